#!/usr/bin/env python3
"""Writes the PyTorch reference values of tests/test_torch_reference.cpp: one small safetensors
file per case in this folder, read by name.

For each case (an op with fixed arguments, on seeded float64 inputs in ember's layouts: NHWC
activations, KRSC filters), PyTorch computes
  output       f(inputs)
  grad.<x>     dL/dx with L = sum(f * R), R seeded                        (backward)
  gradgrad.<x> dH/dx with H = sum_x <dL/dx, V.x>, V seeded; gradgrad.R = dH/dR  (double backward)
The file holds the inputs (input.<x>), R, V.<x> and these results; its metadata holds the
tolerances (atol, rtol), the names of the inputs in call order (inputs), those that get no
gradient (constant), whether double backward is checked, and the PyTorch expression.

Regenerate (python3-torch, a test dependency): python3 tests/torch_reference/make_fixtures.py
The files are committed, so the C++ test needs no Python; CTest's TorchReferenceFixtures test
reruns this script into a temporary folder and checks the committed files still match it.
"""
import argparse
import os
import sys

try:
    import numpy
    import torch
    import torch.nn.functional as F
except ImportError as error:  # CTest counts exit status 77 as skipped
    print(f"skipped: {error} (install python3-torch and python3-numpy)")
    sys.exit(77)

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "models", "convert"))
import safetensors_io  # noqa: E402  (models/convert/: the numpy safetensors writer the converters use)

torch.set_default_dtype(torch.float64)


def krsc(w):
    """ember's KRSC filter as PyTorch's KCRS."""
    return w.permute(0, 3, 1, 2)


def conv(stride, pad, groups=1):
    def f(x, w, b):
        y = F.conv2d(x.permute(0, 3, 1, 2), krsc(w), b, stride=stride, padding=pad, groups=groups)
        return y.permute(0, 2, 3, 1)
    return f


def conv_transpose(stride, pad):
    # ember's w is [Cin, R, S, Cout] (the filter of the forward convolution it transposes);
    # PyTorch's conv_transpose2d weight is [Cin, Cout, R, S].
    def f(x, w, b):
        y = F.conv_transpose2d(x.permute(0, 3, 1, 2), w.permute(0, 3, 1, 2), b, stride=stride,
                               padding=pad)
        return y.permute(0, 2, 3, 1)
    return f


def batch_norm_train(x, w, b):
    c = x.shape[-1]
    return F.batch_norm(x.reshape(-1, c), None, None, w, b, training=True, eps=1e-3).reshape(x.shape)


def batch_norm_eval(x, w, b, mean, var):
    c = x.shape[-1]
    return F.batch_norm(x.reshape(-1, c), mean, var, w, b, training=False, eps=1e-3).reshape(x.shape)


# name: (inputs {name: (shape, kind)}, function, PyTorch expression, double backward?, tolerances)
# kind: "x" uniform in [-1, 1) (differentiable), "away0" the same kept 0.05 from 0 (kinks),
# "pos" uniform in [0.5, 2), "labels:C" int64 class indices, "const" a float input without gradient.
def cases():
    small = {"x": ([3, 5], "x")}
    kinked = {"x": ([3, 5], "away0")}
    return {
        "relu": (kinked, F.relu, "F.relu(x)", True),
        "leaky_relu": (kinked, lambda x: F.leaky_relu(x, 0.2), "F.leaky_relu(x, 0.2)", True),
        "sigmoid": (small, torch.sigmoid, "torch.sigmoid(x)", True),
        "silu": (small, F.silu, "F.silu(x)", True),
        "tanh": (small, torch.tanh, "torch.tanh(x)", True),
        "softmax": (small, lambda x: torch.softmax(x, -1), "torch.softmax(x, -1)", True),
        "log_softmax": (small, lambda x: torch.log_softmax(x, -1), "torch.log_softmax(x, -1)", True),
        "exp": (small, torch.exp, "torch.exp(x)", True),
        "log": ({"x": ([3, 5], "pos")}, torch.log, "torch.log(x)", True),
        "sqrt": ({"x": ([3, 5], "pos")}, torch.sqrt, "torch.sqrt(x)", True),
        "rsqrt": ({"x": ([3, 5], "pos")}, torch.rsqrt, "torch.rsqrt(x)", True),
        "pow_1_5": ({"x": ([3, 5], "pos")}, lambda x: x ** 1.5, "x ** 1.5", True),
        "div": ({"a": ([3, 5], "x"), "b": ([3, 5], "pos")}, torch.div, "a / b", True),
        "mul_broadcast": ({"a": ([3, 5], "x"), "b": ([5], "x")}, torch.mul, "a * b", True),
        "cross_entropy": ({"logits": ([6, 5], "x"), "target": ([6], "labels:5")},
                          F.cross_entropy, "F.cross_entropy(logits, target)", True),
        "cross_entropy_weighted_smoothed": (
            {"logits": ([6, 5], "x"), "target": ([6], "labels:5"), "weight": ([5], "const")},
            lambda l, t, w: F.cross_entropy(l, t, weight=w, label_smoothing=0.1),
            "F.cross_entropy(logits, target, weight=weight, label_smoothing=0.1)", True),
        "mse_loss": ({"prediction": ([4, 3], "x"), "target": ([4, 3], "x")}, F.mse_loss,
                     "F.mse_loss(prediction, target)", True),
        "bce_with_logits": ({"logits": ([4, 3], "x"), "target": ([4, 3], "x")},
                            F.binary_cross_entropy_with_logits,
                            "F.binary_cross_entropy_with_logits(logits, target)", True),
        "linear": ({"x": ([4, 6], "x"), "weight": ([3, 6], "x"), "bias": ([3], "x")}, F.linear,
                   "F.linear(x, weight, bias)", True),
        "matmul": ({"a": ([4, 6], "x"), "b": ([6, 3], "x")}, torch.matmul, "a @ b", True),
        "conv2d_stride2_pad1": ({"x": ([2, 5, 5, 3], "x"), "w": ([4, 3, 3, 3], "x"), "b": ([4], "x")},
                                conv(2, 1), "F.conv2d(x, w, b, stride=2, padding=1) in NHWC/KRSC",
                                True),
        "conv2d_depthwise": ({"x": ([2, 5, 5, 4], "x"), "w": ([4, 3, 3, 1], "x"), "b": ([4], "x")},
                             conv(1, 1, groups=4),
                             "F.conv2d(x, w, b, padding=1, groups=4) in NHWC/KRSC", True),
        "conv_transpose2d_k4_s2_p1": (
            {"x": ([2, 3, 3, 3], "x"), "w": ([3, 4, 4, 2], "x"), "b": ([2], "x")},
            conv_transpose(2, 1), "F.conv_transpose2d(x, w, b, stride=2, padding=1) in NHWC", True),
        "batch_norm_train": ({"x": ([4, 3, 3, 5], "x"), "weight": ([5], "x"), "bias": ([5], "x")},
                             batch_norm_train,
                             "F.batch_norm(x, None, None, weight, bias, training=True, eps=1e-3)",
                             False),
        "batch_norm_eval": ({"x": ([4, 3, 3, 5], "x"), "weight": ([5], "x"), "bias": ([5], "x"),
                             "running_mean": ([5], "const"), "running_var": ([5], "const_pos")},
                            batch_norm_eval,
                            "F.batch_norm(x, running_mean, running_var, weight, bias, eps=1e-3)",
                            True),
        "layer_norm": ({"x": ([4, 6], "x"), "weight": ([6], "x"), "bias": ([6], "x")},
                       lambda x, w, b: F.layer_norm(x, [6], w, b, eps=1e-5),
                       "F.layer_norm(x, [6], weight, bias, eps=1e-5)", True),
        "embedding": ({"weight": ([7, 4], "x"), "index": ([5], "labels:7")},
                      lambda w, i: F.embedding(i, w), "F.embedding(index, weight)", True),
        "global_avg_pool": ({"x": ([2, 3, 4, 5], "x")}, lambda x: x.mean(dim=(1, 2)),
                            "x.mean(dim=(1, 2))", True),
        "mean_axis1_keepdim": ({"x": ([3, 4, 5], "x")}, lambda x: x.mean(dim=1, keepdim=True),
                               "x.mean(dim=1, keepdim=True)", True),
    }


def make_input(shape, kind, gen):
    if kind.startswith("labels:"):
        return torch.randint(0, int(kind.split(":")[1]), shape, generator=gen, dtype=torch.int64)
    u = torch.rand(shape, generator=gen)
    if kind in ("pos", "const_pos"):
        return 0.5 + 1.5 * u
    x = 2 * u - 1
    if kind == "away0":  # |x| in [0.05, 1): central differences never straddle the kink
        x = torch.sign(x) * (0.05 + 0.95 * x.abs())
    return x


def differentiable(kind):
    return kind in ("x", "away0", "pos")


def compute(name, spec, seed):
    inputs, fn, expression, double_backward = spec
    gen = torch.Generator().manual_seed(seed)
    values = {n: make_input(shape, kind, gen) for n, (shape, kind) in inputs.items()}
    leaves = {n: v.clone().requires_grad_(differentiable(inputs[n][1])) for n, v in values.items()}
    wrt = [n for n in inputs if differentiable(inputs[n][1])]
    out = fn(*leaves.values())
    R = (2 * torch.rand(out.shape, generator=gen) - 1).requires_grad_(True)
    L = (out * R).sum()
    grads = torch.autograd.grad(L, [leaves[n] for n in wrt], create_graph=double_backward)
    tensors = {"output": out.detach(), "R": R.detach()}
    for n, v in values.items():
        tensors["input." + n] = v
    for n, g in zip(wrt, grads):
        tensors["grad." + n] = g.detach()
    if double_backward:
        V = {n: 2 * torch.rand(values[n].shape, generator=gen) - 1 for n in wrt}
        H = sum((g * V[n]).sum() for n, g in zip(wrt, grads))
        second = torch.autograd.grad(H, [leaves[n] for n in wrt] + [R], allow_unused=True)
        for n in wrt:
            tensors["V." + n] = V[n]
        for n, g in zip(wrt + ["R"], second):
            # An input that H does not depend on (e.g. the bias of a linear map) has a zero
            # second derivative; PyTorch reports it as None.
            shape = R.shape if n == "R" else values[n].shape
            tensors["gradgrad." + n] = torch.zeros(shape) if g is None else g.detach()
    metadata = {
        "torch_expression": expression,
        "inputs": ",".join(inputs),
        "constant": ",".join(n for n in inputs if not differentiable(inputs[n][1])),
        "double_backward": "yes" if double_backward else "no",
        # float64 on both sides; the slack covers a different summation order.
        "atol": "1e-10",
        "rtol": "1e-8",
        "torch_version": torch.__version__.split("+")[0],
        "seed": str(seed),
    }
    return tensors, metadata


def as_numpy(tensors):
    return {name: t.detach().contiguous().numpy() for name, t in tensors.items()}


def same_values(path, tensors, metadata):
    """The file holds the same tensors and settings, the values equal to 1e-12 (a PyTorch build
    may sum in another order)."""
    old, old_metadata = safetensors_io.read(path)
    keys = [k for k in metadata if k != "torch_version"]
    if any(old_metadata.get(k) != metadata[k] for k in keys) or set(old) != set(tensors):
        return False
    for name, value in as_numpy(tensors).items():
        if old[name].shape != value.shape or not numpy.allclose(old[name], value, rtol=1e-12, atol=1e-12):
            return False
    return True


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=os.path.dirname(os.path.abspath(__file__)))
    parser.add_argument("--check", action="store_true",
                        help="compare with the files in --out instead of writing them")
    args = parser.parse_args()
    stale = []
    for i, (name, spec) in enumerate(sorted(cases().items())):
        tensors, metadata = compute(name, spec, seed=1000 + i)
        path = os.path.join(args.out, name + ".safetensors")
        if args.check:
            if not os.path.exists(path) or not same_values(path, tensors, metadata):
                stale.append(name)
            continue
        safetensors_io.write(path, as_numpy(tensors), metadata)
    if stale:
        print("stale fixtures (rerun make_fixtures.py): " + ", ".join(stale))
        return 1
    print(("checked " if args.check else "wrote ") + str(len(cases())) + " fixtures in " + args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
