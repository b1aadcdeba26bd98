#!/usr/bin/env python3
"""Writes <out>/summary.json for scripts/gpu-check.sh from what its steps left in <out>: the
step records (steps/*.json), environment.txt, the GoogleTest JSON of the GPU tests, the
equivalence report, the Google Benchmark JSON of ember's steps, PyTorch's results and the
real-data run's result.json. Every figure is read from those files; a missing file leaves its
figures out (the step's status says why). docs/gpu-check.md describes the fields.

Usage: gpu_check_summary.py OUT BUDGET_S ELAPSED_S. Standard library only."""
import glob
import json
import os
import re
import sys


def load(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def environment(out):
    env = {}
    try:
        for line in open(os.path.join(out, "environment.txt")):
            key, _, value = line.partition(":")
            env[key.strip()] = value.strip()
    except OSError:
        pass
    return env


def gtest_counts(report):
    counts = {"passed": 0, "failed": 0, "skipped": 0, "failed_names": []}
    for suite in report.get("testsuites", []):
        for test in suite.get("testsuite", []):
            name = f"{suite['name']}.{test['name']}"
            if test.get("failures"):
                counts["failed"] += 1
                counts["failed_names"].append(name)
            elif test.get("result") == "SKIPPED":
                counts["skipped"] += 1
            else:
                counts["passed"] += 1
    return counts


def sanitizer_errors(log_path):
    """compute-sanitizer's 'ERROR SUMMARY: N errors' (the sum over its lines), or None."""
    try:
        text = open(log_path, errors="replace").read()
    except OSError:
        return None
    found = re.findall(r"ERROR SUMMARY: (\d+) error", text)
    return sum(int(n) for n in found) if found else None


def bench_img_per_s(report):
    """{case name without BM_ and the timing suffix: img/s} of a Google Benchmark JSON file."""
    result = {}
    for b in (report or {}).get("benchmarks", []):
        if b.get("error_occurred") or "img/s" not in b:
            continue
        # "BM_cuda_step/64/min_time:2.000/real_time" -> "cuda_step/64"
        name = re.sub(r"^BM_", "", b["name"])
        name = re.sub(r"/(min_time:[0-9.]+s?|real_time|manual_time)", "", name)
        result[name] = b["img/s"]
    return result


def torch_cases(report):
    """{(config, batch): img/s} of bench/torch_efficientnet_step.py's JSON."""
    return {(c["config"], c["batch"]): c["img_per_s"]
            for c in (report or {}).get("cases", []) if "img_per_s" in c}


def ratio(a, b):
    return round(a / b, 3) if a and b else None


def main():
    out, budget, elapsed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    steps = [load(p) for p in glob.glob(os.path.join(out, "steps", "*.json"))]
    steps = sorted((s for s in steps if s), key=lambda s: s.get("order", 0))
    env = environment(out)
    figures = {}

    tests = load(os.path.join(out, "gpu_tests.json"))
    if tests:
        figures["gpu_tests"] = gtest_counts(tests)
    for tool in ("memcheck", "racecheck", "synccheck"):
        errors = sanitizer_errors(os.path.join(out, "logs", tool + ".log"))
        if errors is not None:
            figures[tool] = {"errors": errors}

    equivalence = load(os.path.join(out, "equivalence.json"))
    if equivalence:
        figures["equivalence"] = {
            "passed": equivalence.get("passed"),
            "batch": equivalence.get("batch"),
            "steps": {s["name"]: {part: s[part]["worst"] for part in
                                  ("loss", "gradients", "parameters", "buffers", "outputs")
                                  if part in s} | {"passed": s["passed"]}
                      for s in equivalence.get("steps", [])}}

    # EfficientNetB2 step: ember (exact fp32, TF32, bf16; each eager and replayed from a CUDA
    # graph) against PyTorch (fp32, TF32, bf16 AMP with channels_last, torch.compile), same
    # card, same batch; ratio > 1: ember faster.
    ember = {mode: bench_img_per_s(load(os.path.join(out, f"speed_ember_b2_{mode}.json")))
             for mode in ("fp32", "tf32", "bf16")}
    torch = torch_cases(load(os.path.join(out, "speed_torch_b2.json")))
    b2 = {}
    for batch in (64, 256):
        row = {}
        for mode in ("fp32", "tf32", "bf16"):
            for case, suffix in ((f"cuda_step/{batch}", ""), (f"cuda_step_graphed/{batch}", "_graphed")):
                value = ember[mode].get(case)
                if value:
                    row[f"ember_{mode}{suffix}_img_per_s"] = round(value, 1)
        for config in ("fp32", "tf32", "bf16", "compile"):
            if (config, batch) in torch:
                row[f"torch_{config}_img_per_s"] = round(torch[(config, batch)], 1)
        row["ratio_ember_fp32_vs_torch_fp32"] = ratio(row.get("ember_fp32_img_per_s"),
                                                     row.get("torch_fp32_img_per_s"))
        row["ratio_ember_tf32_vs_torch_tf32"] = ratio(row.get("ember_tf32_img_per_s"),
                                                     row.get("torch_tf32_img_per_s"))
        row["ratio_ember_tf32_vs_torch_bf16"] = ratio(row.get("ember_tf32_img_per_s"),
                                                     row.get("torch_bf16_img_per_s"))
        row["ratio_ember_tf32_vs_torch_compile"] = ratio(row.get("ember_tf32_img_per_s"),
                                                        row.get("torch_compile_img_per_s"))
        # The goals: the graphed step (the trainer's default) against PyTorch's eager AMP and
        # torch.compile.
        for mode in ("tf32", "bf16"):
            for config in ("bf16", "compile"):
                row[f"ratio_ember_{mode}_graphed_vs_torch_{config}"] = ratio(
                    row.get(f"ember_{mode}_graphed_img_per_s"), row.get(f"torch_{config}_img_per_s"))
        b2[f"batch_{batch}"] = {k: v for k, v in row.items() if v is not None}
    if any(b2.values()):
        figures["speed_efficientnet_b2"] = b2

    # The GAN's WGAN-GP critic step and generator step at batch 64, exact fp32 on both sides.
    gan_ember = bench_img_per_s(load(os.path.join(out, "speed_ember_gan.json")))
    gan = {}
    for which in ("critic", "generator"):
        row = {}
        value = gan_ember.get(f"cuda_{which}_step/64")
        if value:
            row["ember_fp32_img_per_s"] = round(value, 1)
        value = gan_ember.get(f"cuda_{which}_step_graphed/64")
        if value:
            row["ember_fp32_graphed_img_per_s"] = round(value, 1)
        torch_gan = load(os.path.join(out, f"speed_torch_gan_{which}.json")) or {}
        if torch_gan.get("img_per_s") == torch_gan.get("img_per_s") and torch_gan.get("img_per_s"):
            row["torch_fp32_img_per_s"] = round(torch_gan["img_per_s"], 1)
        elif "skipped" in torch_gan:
            row["torch_skipped"] = torch_gan["skipped"]
        row["ratio_ember_vs_torch"] = ratio(row.get("ember_fp32_img_per_s"),
                                            row.get("torch_fp32_img_per_s"))
        row["ratio_ember_graphed_vs_torch"] = ratio(row.get("ember_fp32_graphed_img_per_s"),
                                                    row.get("torch_fp32_img_per_s"))
        gan[which] = {k: v for k, v in row.items() if v is not None}
    if any(gan.values()):
        figures["speed_gan_batch_64"] = gan

    result = load(os.path.join(out, "train_real_data", "result.json"))
    if result:
        figures["train_real_data"] = {
            "train_images": result.get("train_images"),
            "epochs": result.get("epochs_run"),
            "seconds_per_epoch": result.get("seconds_per_epoch"),
            "train_images_per_second": result.get("train_images_per_second"),
            "val_accuracy": result.get("val", {}).get("accuracy"),
            "test_accuracy": result.get("test", {}).get("accuracy")}

    summary = {
        "format": "ember.gpu_check.v1",
        "commit": env.get("commit"),
        "gpu": env.get("gpu"),
        "environment": env,
        "budget_seconds": budget,
        "seconds": elapsed,
        "passed": bool(steps) and all(s["status"] in ("passed", "skipped") for s in steps),
        "steps": steps,
        "figures": figures,
    }
    with open(os.path.join(out, "summary.json"), "w") as f:
        json.dump(summary, f, indent=2)
    for s in steps:
        print(f"  {s['step']:20s} {s['status']:8s} {s['seconds']:4d} s  {s['detail']}")


if __name__ == "__main__":
    main()
