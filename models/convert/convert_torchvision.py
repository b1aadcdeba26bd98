#!/usr/bin/python3
"""Converts torchvision efficientnet_b2 weights to an ember safetensors file.

Owns: the mapping from torchvision's module tree (torchvision/models/efficientnet.py, v0.14) to
ember's Keras-named layout (models/efficientnet.h), derived by walking the state_dict's key tree,
not from a table of names:
  features.0.{0,1}                 -> stem_conv, stem_bn
  features.<s>.<j>.block.<k>       -> block<s><letter j>_...  (s = 1..7, j = 0.. -> a, b, ...)
      ConvNormActivation before the SE, when there are two: expand (1x1) -> _expand_conv/_expand_bn
      ConvNormActivation just before the SE (depthwise)   -> _dwconv / _bn
      SqueezeExcitation fc1 / fc2                         -> _se_reduce / _se_expand (.weight, .bias)
      ConvNormActivation after the SE (1x1)               -> _project_conv / _project_bn
  features.<last>.{0,1}            -> top_conv, top_bn
  classifier.<i> (the Linear)      -> predictions (.weight [classes, C], .bias)
Layouts: convolution weights OIHW -> ember's OHWI ([K, R, S, C/groups]; a depthwise [C, 1, R, S]
becomes [C, R, S, 1]); BatchNorm weight/bias/running_mean/running_var and the Linear unchanged.
num_batches_tracked is skipped (ember's BatchNorm uses a fixed momentum and keeps no count).
Every other source tensor must be used exactly once, or the conversion fails naming the leftovers.

Input preprocessing: torchvision models take already normalised inputs and hold no normalisation
tensors. By default the output holds none either, so build the ember model with
include_preprocessing=false (strict loading fails otherwise, naming normalization.mean).
--imagenet-normalization instead writes normalization.mean/variance with the ImageNet statistics
torchvision's weights expect (mean 0.485/0.456/0.406, std 0.229/0.224/0.225 on 0..1 inputs), for
an ember model with include_preprocessing=true fed 0..255 images: ember's Rescaling(1/255) then
computes exactly torchvision's ToTensor + Normalize.

The file's metadata records ember.padding=symmetric and ember.bn_eps (1e-05 unless a whole
pickled model says otherwise): build the model with padding Symmetric and that bn_eps.
models::load_pretrained_backbone checks both.

Usage: /usr/bin/python3 models/convert/convert_torchvision.py IN.pth OUT.safetensors [--imagenet-normalization]
IN is torch.save(model.state_dict()), a whole pickled model, or a dict holding one of those under
'state_dict' or 'model'. Tested by tests/interop/test_converters.py and compare_torch.py.
"""

import argparse
import os
import re
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import safetensors_io  # noqa: E402

IMAGENET_MEAN = [0.485, 0.456, 0.406]
IMAGENET_STD = [0.229, 0.224, 0.225]
BN_ROLES = ("weight", "bias", "running_mean", "running_var")


class ConversionError(Exception):
    pass


def block_name(stage, index):
    """Keras's block name: stage number, then a letter per block of the stage (block2b)."""
    if index >= 26:
        raise ConversionError("stage %d has more than 26 blocks; Keras names stop at 'z'" % stage)
    return "block%d%s" % (stage, chr(ord("a") + index))


def key_tree(state):
    """Nested dicts from dotted keys: {'features': {'0': {'0': {'weight': 'features.0.0.weight'}}}}."""
    root = {}
    for key in state:
        node = root
        parts = key.split(".")
        for p in parts[:-1]:
            node = node.setdefault(p, {})
            if not isinstance(node, dict):
                raise ConversionError("key %r clashes with a tensor of the same prefix" % key)
        node[parts[-1]] = key
    return root


def numbered(node, what):
    """The children of a Sequential's key node, in index order."""
    if not isinstance(node, dict) or not node or not all(re.fullmatch(r"\d+", k) for k in node):
        raise ConversionError("%s: expected a Sequential (numbered children), got keys %s"
                              % (what, sorted(node) if isinstance(node, dict) else node))
    return [(int(k), node[k]) for k in sorted(node, key=int)]


class Converter:
    def __init__(self, state):
        self.state = state
        self.used = set()
        self.out = {}

    def take(self, key):
        if key in self.used:
            raise ConversionError("source tensor %r used twice" % key)
        if key not in self.state:
            raise ConversionError("source tensor %r missing" % key)
        self.used.add(key)
        return self.state[key]

    def put(self, name, array):
        if name in self.out:
            raise ConversionError("ember tensor %r written twice" % name)
        self.out[name] = np.ascontiguousarray(array, dtype=np.float32)

    def conv(self, node, name, what, bias=False):
        """A Conv2d's weight (OIHW -> OHWI) and, for the SE convolutions, its bias."""
        if not isinstance(node, dict) or "weight" not in node:
            raise ConversionError("%s: no convolution weight under it" % what)
        w = self.take(node["weight"])
        if w.ndim != 4:
            raise ConversionError("%s: expected a 4-D convolution weight, got shape %s" % (what, w.shape))
        self.put(name + ".weight", w.transpose(0, 2, 3, 1))
        expected = {"weight", "bias"} if bias else {"weight"}
        if set(node) != expected:
            raise ConversionError("%s: expected tensors %s, got %s" % (what, sorted(expected), sorted(node)))
        if bias:
            self.put(name + ".bias", self.take(node["bias"]))
        return w.shape

    def bn(self, node, name, what):
        roles = set(node) - {"num_batches_tracked"} if isinstance(node, dict) else set()
        if roles != set(BN_ROLES):
            raise ConversionError("%s: expected a BatchNorm2d (%s), got %s"
                                  % (what, ", ".join(BN_ROLES), sorted(node) if isinstance(node, dict) else node))
        for role in BN_ROLES:
            self.put(name + "." + role, self.take(node[role]))

    def conv_norm(self, node, conv_name, bn_name, what):
        """A Conv2dNormActivation: .0 the convolution, .1 the BatchNorm (.2, the activation, has no state)."""
        children = dict(numbered(node, what))
        if set(children) != {0, 1}:
            raise ConversionError("%s: expected a Conv2dNormActivation with a conv (0) and a "
                                  "BatchNorm (1), got children %s" % (what, sorted(children)))
        shape = self.conv(children[0], conv_name, what + ".0")
        self.bn(children[1], bn_name, what + ".1")
        return shape

    def mbconv(self, node, name, what):
        if set(node) != {"block"}:
            raise ConversionError("%s: expected an MBConv (a 'block' Sequential), got %s" % (what, sorted(node)))
        parts = numbered(node["block"], what + ".block")
        se = [i for i, (_, child) in enumerate(parts) if isinstance(child, dict) and "fc1" in child]
        if len(se) != 1 or se[0] not in (1, 2) or se[0] != len(parts) - 2:
            raise ConversionError("%s.block: expected [expand,] depthwise, SqueezeExcitation, project; "
                                  "got children %s" % (what, [k for k, _ in parts]))
        before = parts[:se[0]]
        path = lambda k: "%s.block.%d" % (what, k)  # noqa: E731
        if len(before) == 2:
            k, child = before[0]
            shape = self.conv_norm(child, name + "_expand_conv", name + "_expand_bn", path(k))
            if shape[2:] != (1, 1):
                raise ConversionError("%s: the expansion should be 1x1, got weight shape %s" % (path(k), shape))
        k, child = before[-1]
        shape = self.conv_norm(child, name + "_dwconv", name + "_bn", path(k))
        if shape[1] != 1:
            raise ConversionError("%s: expected a depthwise convolution ([C, 1, k, k]), got weight "
                                  "shape %s" % (path(k), shape))
        k, child = parts[se[0]]
        if set(child) != {"fc1", "fc2"}:
            raise ConversionError("%s: expected SqueezeExcitation fc1/fc2, got %s" % (path(k), sorted(child)))
        self.conv(child["fc1"], name + "_se_reduce", path(k) + ".fc1", bias=True)
        self.conv(child["fc2"], name + "_se_expand", path(k) + ".fc2", bias=True)
        k, child = parts[-1]
        shape = self.conv_norm(child, name + "_project_conv", name + "_project_bn", path(k))
        if shape[2:] != (1, 1):
            raise ConversionError("%s: the projection should be 1x1, got weight shape %s" % (path(k), shape))

    def run(self):
        tree = key_tree(self.state)
        if set(tree) != {"features", "classifier"}:
            raise ConversionError("expected torchvision EfficientNet keys under 'features' and "
                                  "'classifier', got top-level names %s" % sorted(tree))
        features = numbered(tree["features"], "features")
        if len(features) < 3 or [k for k, _ in features] != list(range(len(features))):
            raise ConversionError("features: expected stem, stages and top conv numbered 0..n, got %s"
                                  % [k for k, _ in features])
        self.conv_norm(features[0][1], "stem_conv", "stem_bn", "features.0")
        blocks = 0
        for stage, node in features[1:-1]:
            for j, block in numbered(node, "features.%d" % stage):
                self.mbconv(block, block_name(stage, j), "features.%d.%d" % (stage, j))
                blocks += 1
        last = features[-1][0]
        self.conv_norm(features[-1][1], "top_conv", "top_bn", "features.%d" % last)
        linears = [(k, c) for k, c in numbered(tree["classifier"], "classifier")]
        if len(linears) != 1 or set(linears[0][1]) != {"weight", "bias"}:
            raise ConversionError("classifier: expected one Linear (weight, bias), got %s"
                                  % [(k, sorted(c)) for k, c in linears])
        k, lin = linears[0]
        w = self.take(lin["weight"])
        if w.ndim != 2:
            raise ConversionError("classifier.%d.weight: expected [classes, C], got %s" % (k, w.shape))
        self.put("predictions.weight", w)
        self.put("predictions.bias", self.take(lin["bias"]))

        skipped = sorted(k for k in self.state if k.endswith(".num_batches_tracked"))
        left = sorted(set(self.state) - self.used - set(skipped))
        if left:
            raise ConversionError("%d source tensor(s) not mapped: %s" % (len(left), ", ".join(left[:10])))
        return blocks, len(features) - 2, skipped


def load_state(path):
    """The state_dict in `path` as name -> float32 numpy arrays (plus the BN eps of a whole model)."""
    import torch
    obj = torch.load(path, map_location="cpu")
    eps = None
    if isinstance(obj, dict) and not any(isinstance(v, torch.Tensor) for v in obj.values()):
        for key in ("state_dict", "model"):
            if key in obj:
                obj = obj[key]
                break
    if isinstance(obj, torch.nn.Module):
        eps_values = {m.eps for m in obj.modules() if isinstance(m, torch.nn.BatchNorm2d)}
        if len(eps_values) != 1:
            raise ConversionError("%s: BatchNorm layers with different eps %s" % (path, sorted(eps_values)))
        eps = eps_values.pop()
        obj = obj.state_dict()
    if not isinstance(obj, dict) or not obj:
        raise ConversionError("%s: expected a state_dict or an nn.Module, got %s" % (path, type(obj).__name__))
    state = {}
    for k, v in obj.items():
        if not isinstance(v, torch.Tensor):
            raise ConversionError("%s: entry %r is a %s, not a tensor" % (path, k, type(v).__name__))
        if k.startswith("module."):  # saved from DataParallel / DistributedDataParallel
            k = k[len("module."):]
        state[k] = v.detach().cpu().numpy()
    return state, eps


def convert(state, imagenet_normalization=False, bn_eps=None):
    """(ember tensors, metadata, report lines) for a torchvision EfficientNet state (numpy arrays)."""
    c = Converter(state)
    blocks, stages, skipped = c.run()
    out = c.out
    if imagenet_normalization:
        out["normalization.mean"] = np.array(IMAGENET_MEAN, dtype=np.float32)
        out["normalization.variance"] = np.array([s * s for s in IMAGENET_STD], dtype=np.float32)
    eps = 1e-5 if bn_eps is None else bn_eps
    metadata = {"format": "ember.efficientnet", "source": "torchvision",
                "ember.padding": "symmetric", "ember.bn_eps": repr(float(eps)),
                "ember.include_preprocessing": "true" if imagenet_normalization else "false"}
    report = [
        "%d stages, %d MBConv blocks; %d source tensors mapped to %d ember tensors"
        % (stages, blocks, len(c.used), len(c.out) - (2 if imagenet_normalization else 0)),
        "skipped %d num_batches_tracked buffers (ember's BatchNorm keeps no batch count)" % len(skipped),
        ("wrote normalization.mean/variance (ImageNet): build with include_preprocessing=true, inputs 0..255"
         if imagenet_normalization else
         "no normalization tensors: build with include_preprocessing=false and feed normalised inputs"),
        "build with padding=Symmetric, bn_eps=%g (torchvision's BatchNorm eps%s)"
        % (eps, "" if bn_eps is not None else ", assumed: a state_dict does not store it"),
    ]
    return out, metadata, report


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("input", help="torchvision efficientnet_b2 state_dict (.pth) or pickled model")
    p.add_argument("output", help="ember safetensors file to write")
    p.add_argument("--imagenet-normalization", action="store_true",
                   help="also write normalization.mean/variance (ImageNet) for a model with "
                        "include_preprocessing=true")
    args = p.parse_args(argv)
    try:
        state, eps = load_state(args.input)
        out, metadata, report = convert(state, args.imagenet_normalization, eps)
    except ConversionError as e:
        print("convert_torchvision: %s: %s" % (args.input, e), file=sys.stderr)
        return 1
    safetensors_io.write(args.output, out, metadata)
    n = sum(a.size for a in out.values())
    for line in report:
        print("convert_torchvision: " + line)
    print("convert_torchvision: wrote %s (%d tensors, %d values)" % (args.output, len(out), n))
    return 0


if __name__ == "__main__":
    sys.exit(main())
