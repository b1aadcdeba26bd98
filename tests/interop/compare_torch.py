#!/usr/bin/python3
"""ember's EfficientNetB2 against torchvision's efficientnet_b2 (PyTorch, CPU, float32).

Builds torchvision.models.efficientnet_b2(num_classes=10) with random weights, then randomises
every BatchNorm's affine parameters and running statistics and the SE and classifier biases
(all zero or one at initialisation, which would hide a swapped or ignored tensor), with
stochastic depth and classifier dropout 0. The weights go through models/convert/convert_torchvision.py
(command line); tests/interop/effnet_forward (C++) loads them strictly into ember's B2 built
with {Symmetric padding, bn_eps 1e-5, bn_momentum 0.9, unbiased running variance, no input
preprocessing, rates 0} and computes, for the same NCHW input (NHWC inside ember):
  eval mode:      logits, d(sum(logits * R))/d(input)
  training mode:  logits, d(sum(logits * R))/d(input) (batch statistics), and every BN's
                  running_mean / running_var after that one step
which are compared with PyTorch's, matched by name (running statistics through the converter's
own mapping applied to the PyTorch state after the step).

Tolerance: each tensor must satisfy max|ember - torch| <= TOL * max|torch| (errors relative to
the tensor's scale, so near-zero elements do not dominate). The two sides compute the same
float32 math in different orders (im2col/GEMM vs. oneDNN-style direct convolutions, per-channel
reductions for BN and pooling summed in different orders), so the results differ by rounding,
amplified through 23 blocks and, in training mode, by the batch-statistics division; float32
has a relative precision of 6e-8. TOL is well above the measured differences (reported as the
share of the tolerance used) and far below what a real mistake gives: a swapped padding side, a
transposed kernel, a wrong epsilon (1e-3 vs 1e-5) or a biased running variance each change
these tensors by 1e-3 to 1 relative (see models/convert/README.md).

Run: /usr/bin/python3 tests/interop/compare_torch.py --exe build/tests/effnet_forward
     (CTest: InteropTorchEfficientNetB2). Exit 77 with a reason when torch/torchvision is missing.
"""

import argparse
import os
import subprocess
import sys
import tempfile
import time

import interop_env
from interop_env import TOOLS

np, torch, torchvision = interop_env.require(
    ["numpy", "torch", "torchvision"], "the PyTorch comparison needs numpy, torch and torchvision",
    "python3-torch python3-torchvision python3-numpy")

import convert_torchvision  # noqa: E402
import safetensors_io  # noqa: E402

# Stated tolerances (max abs error / max |torch value|), kept beside the data they judge.
TOLERANCE = {
    "eval.logits": 1e-4,
    "eval.input_grad": 2e-4,
    "train.logits": 1e-4,
    "train.input_grad": 2e-4,
    "train.running_mean": 1e-5,
    "train.running_var": 1e-5,
}


def build_torch_model(seed, size):
    torch.manual_seed(seed)
    m = torchvision.models.efficientnet_b2(num_classes=10, stochastic_depth_prob=0.0)
    m.classifier[0].p = 0.0  # classifier dropout (efficientnet_b2 fixes it at 0.3)
    g = torch.Generator().manual_seed(seed + 1)
    bns = [mod for mod in m.modules() if isinstance(mod, torch.nn.BatchNorm2d)]
    with torch.no_grad():
        for mod in bns:
            mod.weight.copy_(torch.empty_like(mod.weight).uniform_(0.5, 1.5, generator=g))
            mod.bias.copy_(torch.randn(mod.bias.shape, generator=g) * 0.2)
        for mod in m.modules():
            if isinstance(mod, (torch.nn.Conv2d, torch.nn.Linear)) and mod.bias is not None:
                mod.bias.copy_(torch.randn(mod.bias.shape, generator=g) * 0.2)
        # Running statistics from data: a cumulative average over 256 random images. Arbitrary
        # ones (say variance 0.5..2 where the activations have 0.01) shrink or blow up the
        # input's influence by a factor per layer: after 69 layers the eval-mode input gradient
        # was ~1e-14 (comparing nothing) or ~1e5 (rounding amplified past any tolerance). Even
        # perturbing calibrated statistics by 5% makes some seeds' eval logits reach 100+.
        # Calibrated, they are still far from PyTorch's defaults (0 and 1), per channel.
        for mod in bns:
            mod.momentum = None
        m.train()
        for _ in range(8):
            m(torch.randn(32, 3, size, size, generator=g))
        for mod in bns:
            mod.momentum = 0.1
    return m


def torch_pass(model, x, r, training):
    model.train(training)
    xi = x.clone().requires_grad_(True)
    logits = model(xi)
    (logits * r).sum().backward()
    return logits.detach().numpy(), xi.grad.numpy()


def compare(name, mine, ref, tol):
    if mine.shape != ref.shape:
        return {"name": name, "ok": False, "why": "shape %s vs torch %s" % (mine.shape, ref.shape)}
    diff = np.abs(mine.astype(np.float64) - ref.astype(np.float64))
    scale = float(np.max(np.abs(ref)))
    abs_err = float(diff.max())
    big = np.abs(ref) > 1e-3 * scale  # elementwise relative error where it means something
    rel_err = float((diff[big] / np.abs(ref[big])).max()) if big.any() else 0.0
    share = abs_err / (tol * scale) if scale > 0 else float("inf")
    return {"name": name, "ok": bool(np.isfinite(mine).all() and share <= 1.0), "abs": abs_err,
            "rel": rel_err, "scale": scale, "share": share, "tol": tol}


def main():
    p = argparse.ArgumentParser(description="ember EfficientNetB2 vs torchvision efficientnet_b2")
    p.add_argument("--exe", required=True, help="the effnet_forward program")
    p.add_argument("--workdir", default=None)
    p.add_argument("--batch", type=int, default=4)
    p.add_argument("--size", type=int, default=64)
    p.add_argument("--seed", type=int, default=5)
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args()
    work = args.workdir or tempfile.mkdtemp(prefix="ember_torch_")
    os.makedirs(work, exist_ok=True)
    torch.set_num_threads(args.threads)
    print("torch %s, torchvision %s, batch %d at %dx%d, seed %d; files in %s"
          % (torch.__version__, torchvision.__version__, args.batch, args.size, args.size,
             args.seed, work))

    model = build_torch_model(args.seed, args.size)
    weights_pth = os.path.join(work, "efficientnet_b2.pth")
    torch.save(model.state_dict(), weights_pth)  # before any step: the running stats to start from
    weights = os.path.join(work, "efficientnet_b2.safetensors")
    conv = subprocess.run([sys.executable, os.path.join(TOOLS, "convert_torchvision.py"),
                           weights_pth, weights], capture_output=True, text=True)
    print(conv.stdout + conv.stderr, end="")
    if conv.returncode != 0:
        print("FAIL: the converter failed")
        return 1

    g = torch.Generator().manual_seed(args.seed + 2)
    x = torch.randn(args.batch, 3, args.size, args.size, generator=g)
    r = torch.randn(args.batch, 10, generator=g)
    inputs = os.path.join(work, "input.safetensors")
    safetensors_io.write(inputs, {"input": x.numpy(), "r": r.numpy()})

    out = os.path.join(work, "ember_out.safetensors")
    t0 = time.time()
    run = subprocess.run([args.exe, weights, inputs, out], capture_output=True, text=True)
    print(run.stdout + run.stderr, end="")
    if run.returncode != 0:
        print("FAIL: effnet_forward exited with %d" % run.returncode)
        return 1
    print("ember: %.1f s (eval + training pass, both with input gradients)" % (time.time() - t0))
    mine, _ = safetensors_io.read(out)

    t0 = time.time()
    ref = {}
    ref["eval.logits"], ref["eval.input_grad"] = torch_pass(model, x, r, training=False)
    ref["train.logits"], ref["train.input_grad"] = torch_pass(model, x, r, training=True)
    print("torch: %.1f s" % (time.time() - t0))
    after, _, _ = convert_torchvision.convert({k: v.numpy() for k, v in model.state_dict().items()})
    before = safetensors_io.read(weights)[0]

    results = [compare(k, mine[k], ref[k], TOLERANCE[k]) for k in ref]
    stat_names = sorted(k for k in after if k.endswith((".running_mean", ".running_var")))
    moved = max(float(np.abs(after[k] - before[k]).max()) for k in stat_names)
    for role in ("running_mean", "running_var"):
        group = [compare("train." + k, mine["train." + k], after[k], TOLERANCE["train." + role])
                 for k in stat_names if k.endswith(role)]
        worst = max(group, key=lambda c: c.get("share", float("inf")))
        worst["name"] = "train.*.%s (%d BNs; worst %s)" % (role, len(group), worst["name"][6:].split(".")[0])
        worst["ok"] = all(c["ok"] for c in group)
        results.append(worst)
    missing = [k for k in stat_names if "train." + k not in mine]

    print("%-60s %10s %10s %10s %8s %8s" % ("tensor", "max|torch|", "max abs", "max rel", "tol", "used"))
    ok = not missing
    for c in results:
        if "why" in c:
            print("%-60s %s" % (c["name"], c["why"]))
        else:
            print("%-60s %10.3g %10.3g %10.3g %8.0e %7.1f%%" % (c["name"], c["scale"], c["abs"],
                                                               c["rel"], c["tol"], 100 * c["share"]))
        ok = ok and c["ok"]
    print("the training step moved the running statistics by up to %.3g (the comparison is not "
          "of unchanged buffers)" % moved)
    if missing:
        print("FAIL: ember wrote no running statistics for %s" % missing[:5])
    print("PASS" if ok else "FAIL: ember differs from PyTorch beyond the stated tolerance")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
