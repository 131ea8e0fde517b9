"""PyTorch's side of test/torchvision.slow.test.ts: torchvision classifiers (random weights, eval
mode) exported by torch.onnx.export, and what PyTorch says of the photos given.

usage: python3 torchvision_reference.py OUT_DIR SIZE PHOTO... < models.json
models.json: [{"name": "resnet18", "layer": "layer4"}, ...] (layer: the module whose output
Grad-CAM reads, a dotted path as named_modules() names it).

Per model, OUT_DIR/NAME.onnx (opset 13, dynamic batch) and OUT_DIR/NAME.json:
  {"probabilities": [[...] per photo], "maps": [[...] per photo, h*w, row-major], "shape": [h, w]}
where a photo is x / 255 (RGB, SIZE x SIZE, NCHW) and a map is pytorch-grad-cam's Grad-CAM of
the photo's top class at the layer: relu(sum_k mean_hw(dy/dA_k) A_k), divided by its maximum.
"""
import json
import sys

import numpy as np
import torch
import torchvision
from PIL import Image


def main():
    out, size, photos = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
    torch.manual_seed(3)
    x = torch.stack([torch.from_numpy(np.asarray(Image.open(p).convert("RGB"), dtype=np.float32) / 255).permute(2, 0, 1) for p in photos])
    assert x.shape[2:] == (size, size), f"photos must be {size}x{size}"
    for spec in json.load(sys.stdin):
        model = getattr(torchvision.models, spec["name"])(weights=None).eval()
        torch.onnx.export(model, x[:1], f"{out}/{spec['name']}.onnx", opset_version=13, input_names=["input"], output_names=["logits"],
                          dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}})
        layer = dict(model.named_modules())[spec["layer"]]
        seen = {}

        def keep(_module, _inputs, output):
            seen["a"] = output.detach().requires_grad_(True)
            # a copy goes on: the next op may work in place (DenseNet's relu), which a leaf forbids
            return seen["a"].clone()

        hook = layer.register_forward_hook(keep)
        logits = model(x)
        hook.remove()
        logits.gather(1, logits.argmax(dim=1)[:, None]).sum().backward()
        a = seen["a"]
        maps = torch.relu((a.grad.mean(dim=(2, 3), keepdim=True) * a).sum(dim=1))
        maps = maps / maps.flatten(1).max(dim=1).values.clamp_min(1e-30)[:, None, None]
        result = {
            "probabilities": torch.softmax(logits, dim=1).tolist(),
            "maps": maps.flatten(1).tolist(),
            "shape": list(maps.shape[1:]),
        }
        with open(f"{out}/{spec['name']}.json", "w") as f:
            json.dump(result, f)


if __name__ == "__main__":
    main()
