"""The PyTorch side of `npm run bench -- --vs torch`: the same network as wgcam's bench, timed
on request so that wgcam can take its samples in turn with it.

Protocol: one JSON object per line on stdin, one per line on stdout.
  {"op": "setup", "blocks": "c32-p-c64-p-c128-p-c256", "size": 224, "batch": 16, "classes": 2,
   "device": "cpu" | "cuda"}  -> {"torch": version, "device": what runs it}
                                  or {"error": ...} where this PyTorch has no CUDA device
  {"op": "train"}  -> {"ms": ...}   one SGD step (momentum 0.9), forward + backward + update
  {"op": "infer"}  -> {"ms": ...}   one forward pass and softmax, no gradients
  {"op": "torchvision", "name": "resnet18" | "mobilenet_v2" | "vgg16", "batch": 16,
   "size": 224, "onnx": PATH, "input": PATH, "device": "cpu" | "cuda"}
                   -> {"torch": ..., "device": ...}  torchvision's model (random weights, eval
                      mode), written to PATH by torch.onnx.export (opset 13, dynamic batch) with
                      the batch it runs (uniform in [-1, 1], float32 NCHW) written to the input PATH
  {"op": "forward"} -> {"ms": ...}  the torchvision model's forward pass, no gradients
  {"op": "gradcam"} -> {"ms": ...}  Grad-CAM as pytorch-grad-cam computes it: forward, backward of
                      each image's top class score to the layer only (ResNet: layer4; MobileNetV2:
                      the last conv block), relu(sum_k mean(dY/dA_k) A_k)
  {"op": "check"}  -> {"logits": [...], "maps": [...], "shape": [N, h, w]}  what forward and
                      gradcam give, for the comparison
The network: 3x3 valid convolutions with ReLU, 2x2 max-pools, global average pooling, one
linear layer, in channels-last memory format, on all of the machine's cores or on the first
CUDA device (cuDNN autotuning on; each timing waits for the device before and after).
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


def torchvision_model(name):
    """The model and the module whose output Grad-CAM reads (pytorch-grad-cam's usual target layers)."""
    import torchvision
    model = getattr(torchvision.models, name)(weights=None).eval()
    layer = {"resnet18": lambda m: m.layer4, "mobilenet_v2": lambda m: m.features[-1], "vgg16": lambda m: m.features[29]}[name](model)
    return model, layer


def grad_cam(s):
    """
    Grad-CAM maps [N, h, w] and the logits, as pytorch-grad-cam's GradCAM defines them, with the
    least work PyTorch can do: the layer's output becomes a leaf that requires grad (a forward
    hook), no parameter requires grad, so the backward pass stops at the layer and makes no
    parameter gradients (pytorch-grad-cam itself makes every layer's).
    """
    seen = {}

    def keep(_module, _inputs, out):
        seen["a"] = out.detach().requires_grad_(True)
        # a copy goes on: the next op may work in place (DenseNet's relu), which a leaf forbids
        return seen["a"].clone()

    hook = s["layer"].register_forward_hook(keep)
    try:
        logits = s["model"](s["x"])
        top = logits.argmax(dim=1)
        logits.gather(1, top[:, None]).sum().backward()
        a = seen["a"]
        maps = torch.relu((a.grad.mean(dim=(2, 3), keepdim=True) * a).sum(dim=1))
    finally:
        hook.remove()
    return logits.detach(), maps.detach()


def main():
    torch.set_num_threads(os.cpu_count() or 1)
    torch.manual_seed(1)
    state = {}
    for line in sys.stdin:
        cmd = json.loads(line)
        if cmd["op"] == "setup":
            device = cmd.get("device", "cpu")
            if device == "cuda" and not torch.cuda.is_available():
                reply = {"error": "this PyTorch has no CUDA device"}
            else:
                torch.backends.cudnn.benchmark = True
                model = build(cmd["blocks"], cmd["classes"]).to(device, memory_format=torch.channels_last)
                x = torch.rand(cmd["batch"], 3, cmd["size"], cmd["size"]).to(device, memory_format=torch.channels_last)
                y = (torch.arange(cmd["batch"]) % cmd["classes"]).to(device)
                opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
                wait = torch.cuda.synchronize if device == "cuda" else (lambda: None)
                state = {"model": model, "x": x, "y": y, "opt": opt, "loss": nn.CrossEntropyLoss(), "wait": wait}
                what = torch.cuda.get_device_name(0) if device == "cuda" else f"CPU, {torch.get_num_threads()} threads"
                reply = {"torch": torch.__version__, "device": what}
        elif cmd["op"] == "torchvision":
            device = cmd.get("device", "cpu")
            if device == "cuda" and not torch.cuda.is_available():
                reply = {"error": "this PyTorch has no CUDA device"}
            else:
                model, layer = torchvision_model(cmd["name"])
                x = torch.rand(cmd["batch"], 3, cmd["size"], cmd["size"]) * 2 - 1
                x.numpy().astype("float32").tofile(cmd["input"])
                torch.onnx.export(model, x[:1], cmd["onnx"], opset_version=13, input_names=["input"], output_names=["logits"],
                                  dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}})
                model = model.to(device, memory_format=torch.channels_last)
                for p in model.parameters():
                    p.requires_grad_(False)
                wait = torch.cuda.synchronize if device == "cuda" else (lambda: None)
                state = {"model": model, "layer": layer, "x": x.to(device, memory_format=torch.channels_last), "wait": wait}
                what = torch.cuda.get_device_name(0) if device == "cuda" else f"CPU, {torch.get_num_threads()} threads"
                reply = {"torch": torch.__version__, "device": what}
        elif cmd["op"] in ("forward", "gradcam"):
            s = state
            s["wait"]()
            t0 = time.perf_counter()
            if cmd["op"] == "forward":
                with torch.no_grad():
                    s["model"](s["x"])
            else:
                with torch.enable_grad():
                    grad_cam(s)
            s["wait"]()
            reply = {"ms": (time.perf_counter() - t0) * 1000}
        elif cmd["op"] == "check":
            with torch.enable_grad():
                logits, maps = grad_cam(state)
            reply = {"logits": logits.flatten().tolist(), "maps": maps.flatten().tolist(), "shape": list(maps.shape)}
        elif cmd["op"] == "train":
            s = state
            s["wait"]()
            t0 = time.perf_counter()
            # zero_grad() as PyTorch 1.13 defaults: set_to_none=True makes this build's steps 2-5x slower.
            s["opt"].zero_grad()
            s["loss"](s["model"](s["x"]), s["y"]).backward()
            s["opt"].step()
            s["wait"]()
            reply = {"ms": (time.perf_counter() - t0) * 1000}
        elif cmd["op"] == "infer":
            s = state
            s["wait"]()
            t0 = time.perf_counter()
            with torch.no_grad():
                torch.softmax(s["model"](s["x"]), dim=1)
            s["wait"]()
            reply = {"ms": (time.perf_counter() - t0) * 1000}
        else:
            reply = {"error": f"unknown op {cmd['op']}"}
        sys.stdout.write(json.dumps(reply) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
