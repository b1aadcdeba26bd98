#!/usr/bin/python3
# PyTorch's side of bench/bench_efficientnet_step.cpp: one training step of torchvision's
# efficientnet_b2 (10 classes, train mode) at 64x64, forward + cross_entropy + backward +
# torch.optim.Adam, on the CPU with torch.set_num_threads(2) (the 2 cores of the reference
# machine). Warm-up steps first, then the median of --steps timed steps; prints img/s (and a
# forward-only / forward+backward breakdown, each the median of its own timed runs).
# torchvision's model takes normalised NCHW inputs (no Rescaling/Normalization layers), so the
# images are standard normal; the labels are the same (i * 7 + 3) % 10 as ember's.
# Needs Debian's python3-torch / python3-torchvision: run with /usr/bin/python3.
# Output: the last line is "torch_step_img_per_s <value>" for bench/run_efficientnet_step.sh.
import argparse
import statistics
import time

import torch
import torchvision


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--steps", type=int, default=8)
    args = parser.parse_args()

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


if __name__ == "__main__":
    main()
