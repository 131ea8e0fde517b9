"""Trains torchvision classifiers on a folder of photos named CLASS.N.jpg (wgcam's sample photos)
and exports each with torch.onnx.export, for the README's pictures of imported models
(scripts/pictures/imported.ts runs it). No pretrained weights: they cannot be downloaded here.

usage: python3 train_torchvision.py PHOTOS_DIR OUT_DIR SIZE EPOCHS MODEL...
Writes OUT_DIR/MODEL.onnx (input x / 255, RGB, SIZE x SIZE) and OUT_DIR/labels.txt; prints the
training accuracy per epoch.
"""
import os
import sys
import time

import numpy as np
import torch
import torchvision
from PIL import Image


def main():
    photos, out, size, epochs, names = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5:]
    torch.manual_seed(0)
    torch.set_num_threads(os.cpu_count() or 1)
    files = sorted(f for f in os.listdir(photos) if f.endswith(".jpg"))
    classes = sorted({f.split(".")[0] for f in files})
    x = torch.stack([torch.from_numpy(np.asarray(Image.open(os.path.join(photos, f)).convert("RGB").resize((size, size), Image.BILINEAR), dtype=np.float32) / 255).permute(2, 0, 1) for f in files])
    y = torch.tensor([classes.index(f.split(".")[0]) for f in files])
    with open(os.path.join(out, "labels.txt"), "w") as f:
        f.write("\n".join(classes) + "\n")
    for name in names:
        model = getattr(torchvision.models, name)(weights=None, num_classes=len(classes))
        opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=1e-4)
        t0 = time.time()
        for epoch in range(epochs):
            model.train()
            order = torch.randperm(len(x))
            right = 0
            for start in range(0, len(x), 32):
                idx = order[start:start + 32]
                batch = x[idx]
                if torch.rand(()) < 0.5:
                    batch = batch.flip(3)
                logits = model(batch)
                loss = torch.nn.functional.cross_entropy(logits, y[idx])
                opt.zero_grad()
                loss.backward()
                opt.step()
                right += (logits.argmax(1) == y[idx]).sum().item()
            print(f"{name} epoch {epoch + 1}: training accuracy {right / len(x):.3f} ({time.time() - t0:.0f} s)", flush=True)
        model.eval()
        torch.onnx.export(model, x[:1], os.path.join(out, f"{name}.onnx"), opset_version=13, input_names=["input"], output_names=["logits"],
                          dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}})


if __name__ == "__main__":
    main()
