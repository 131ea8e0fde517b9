"""The PyTorch side of `npm run bench -- --vs torch`: the same network as wgcam's bench, timed
on request so that wgcam can take its samples in turn with it.

Protocol: one JSON object per line on stdin, one per line on stdout.
  {"op": "setup", "blocks": "c32-p-c64-p-c128-p-c256", "size": 224, "batch": 16, "classes": 2}
  {"op": "train"}  -> {"ms": ...}   one SGD step (momentum 0.9), forward + backward + update
  {"op": "infer"}  -> {"ms": ...}   one forward pass and softmax, no gradients
The network: 3x3 valid convolutions with ReLU, 2x2 max-pools, global average pooling, one
linear layer, in channels-last memory format, on all of the machine's cores.
"""
import json
import os
import sys
import time

import torch
import torch.nn as nn


def build(blocks, classes):
    layers, channels = [], 3
    for b in blocks.split("-"):
        if b == "p":
            layers.append(nn.MaxPool2d(2))
        else:
            out = int(b[1:])
            layers += [nn.Conv2d(channels, out, 3), nn.ReLU(inplace=True)]
            channels = out
    return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(channels, classes))


def main():
    torch.set_num_threads(os.cpu_count() or 1)
    torch.manual_seed(1)
    state = {}
    for line in sys.stdin:
        cmd = json.loads(line)
        if cmd["op"] == "setup":
            model = build(cmd["blocks"], cmd["classes"]).to(memory_format=torch.channels_last)
            x = torch.rand(cmd["batch"], 3, cmd["size"], cmd["size"]).to(memory_format=torch.channels_last)
            y = torch.arange(cmd["batch"]) % cmd["classes"]
            opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
            state = {"model": model, "x": x, "y": y, "opt": opt, "loss": nn.CrossEntropyLoss()}
            reply = {"torch": torch.__version__, "threads": torch.get_num_threads()}
        elif cmd["op"] == "train":
            s = state
            t0 = time.perf_counter()
            # zero_grad() as PyTorch 1.13 defaults: set_to_none=True makes this build's steps 2-5x slower.
            s["opt"].zero_grad()
            s["loss"](s["model"](s["x"]), s["y"]).backward()
            s["opt"].step()
            reply = {"ms": (time.perf_counter() - t0) * 1000}
        elif cmd["op"] == "infer":
            s = state
            t0 = time.perf_counter()
            with torch.no_grad():
                torch.softmax(s["model"](s["x"]), dim=1)
            reply = {"ms": (time.perf_counter() - t0) * 1000}
        else:
            reply = {"error": f"unknown op {cmd['op']}"}
        sys.stdout.write(json.dumps(reply) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
