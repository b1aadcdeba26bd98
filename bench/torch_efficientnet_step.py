#!/usr/bin/python3
# PyTorch's side of bench/bench_efficientnet_step.cpp: one training step of torchvision's
# efficientnet_b2 (10 classes, train mode) at 64x64, forward + cross_entropy + backward +
# torch.optim.Adam. Warm-up steps first, then the median of --steps timed steps; prints img/s.
# torchvision's model takes normalised NCHW inputs (no Rescaling/Normalization layers), so the
# images are standard normal; the labels are the same (i * 7 + 3) % 10 as ember's.
#
# Two modes:
# - CPU (default; bench/run_efficientnet_step.sh): torch.set_num_threads(--threads), one batch,
#   a forward-only / forward+backward / step breakdown; the last line is
#   "torch_step_img_per_s <value>".
# - GPU (--device cuda, for scripts/gpu-check.sh): every --configs entry at every --batches
#   size, each step timed with torch.cuda.synchronize(); configs: fp32 (exact: TF32 off in
#   matmuls and cuDNN), tf32, bf16 (torch.autocast bf16, channels_last), and compile (the tf32
#   step under torch.compile; skipped with the reason when it fails or --deadline leaves too
#   little time). One line per case "torch_b2 config=<c> batch=<n> img_per_s=<v>" and --json.
# Needs python3-torch / python3-torchvision (Debian's: run with /usr/bin/python3), or the GPU
# machine's own PyTorch.
import argparse
import json
import statistics
import time

import torch
import torchvision


def cpu_main(args):
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = torchvision.models.efficientnet_b2(num_classes=10)
    model.train()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    x = torch.randn(args.batch, 3, 64, 64)
    y = (torch.arange(args.batch) * 7 + 3) % 10

    def run(part):
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(x), y)
        if part != "forward":
            loss.backward()
        if part == "step":
            opt.step()
        return loss

    def median_seconds(part):
        times = []
        for _ in range(args.steps):
            t = time.perf_counter()
            run(part)
            times.append(time.perf_counter() - t)
        return statistics.median(times)

    for _ in range(args.warmup):
        run("step")
    print(f"torch {torch.__version__} torchvision {torchvision.__version__}, "
          f"{torch.get_num_threads()} threads, batch {args.batch}, 64x64, median of {args.steps}")
    results = {}
    for part in ("forward", "fwd_bwd", "step"):
        s = median_seconds(part)
        results[part] = s
        print(f"  {part:8s} {s * 1000:8.1f} ms  {args.batch / s:7.1f} img/s")
    print(f"torch_step_img_per_s {args.batch / results['step']:.2f}")


def gpu_case(config, batch, args):
    """img/s of one config at one batch size on the GPU (the median of args.steps steps)."""
    tf32 = config in ("tf32", "compile")
    torch.backends.cuda.matmul.allow_tf32 = tf32
    torch.backends.cudnn.allow_tf32 = tf32
    torch.backends.cudnn.benchmark = True
    torch.manual_seed(0)
    device = torch.device("cuda")
    model = torchvision.models.efficientnet_b2(num_classes=10).to(device)
    model.train()
    channels_last = config == "bf16"
    x = torch.randn(batch, 3, 64, 64, device=device)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    y = ((torch.arange(batch) * 7 + 3) % 10).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)

    def step():
        opt.zero_grad(set_to_none=True)
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=config == "bf16"):
            loss = torch.nn.functional.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        return loss

    if config == "compile":
        step = torch.compile(step)
    for _ in range(args.warmup):
        step()
    torch.cuda.synchronize()
    times = []
    for _ in range(args.steps):
        t = time.perf_counter()
        step()
        torch.cuda.synchronize()
        times.append(time.perf_counter() - t)
    return batch / statistics.median(times)


def gpu_main(args):
    start = time.perf_counter()
    results = {"torch": torch.__version__, "torchvision": torchvision.__version__,
               "device": torch.cuda.get_device_name(0), "steps": args.steps, "cases": []}
    print(f"torch {torch.__version__} on {results['device']}, median of {args.steps} steps")
    for config in args.configs.split(","):
        for batch in [int(b) for b in args.batches.split(",")]:
            case = {"config": config, "batch": batch}
            left = args.deadline - (time.perf_counter() - start)
            needed = 60 if config == "compile" else 10
            if left < needed:
                case["skipped"] = f"out of time ({left:.0f} s left, {needed} s needed)"
            else:
                try:
                    case["img_per_s"] = gpu_case(config, batch, args)
                except Exception as e:  # a failed torch.compile is a result, not a crash
                    case["skipped"] = f"{type(e).__name__}: {str(e).splitlines()[0][:200]}"
            results["cases"].append(case)
            shown = f"img_per_s={case['img_per_s']:.1f}" if "img_per_s" in case \
                else f"skipped={case['skipped']}"
            print(f"torch_b2 config={config} batch={batch} {shown}", flush=True)
            if args.json:  # after every case: a timeout that stops a slow compile loses nothing
                with open(args.json, "w") as f:
                    json.dump(results, f, indent=2)
            torch.cuda.empty_cache()


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    parser.add_argument("--batch", type=int, default=32, help="CPU mode")
    parser.add_argument("--threads", type=int, default=2, help="CPU mode")
    parser.add_argument("--warmup", type=int, default=None)
    parser.add_argument("--steps", type=int, default=None)
    parser.add_argument("--configs", default="fp32,tf32,bf16,compile", help="GPU mode")
    parser.add_argument("--batches", default="64,256", help="GPU mode")
    parser.add_argument("--deadline", type=float, default=1e9,
                        help="GPU mode: seconds after which no new case starts")
    parser.add_argument("--json", help="GPU mode: write the results here")
    args = parser.parse_args()
    if args.device == "cpu":
        args.warmup = 2 if args.warmup is None else args.warmup
        args.steps = 8 if args.steps is None else args.steps
        cpu_main(args)
    else:
        args.warmup = 3 if args.warmup is None else args.warmup
        args.steps = 20 if args.steps is None else args.steps
        gpu_main(args)


if __name__ == "__main__":
    main()
