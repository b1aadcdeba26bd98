#!/usr/bin/env python3
"""Checks that every #include respects ember's layers (README.md, "The framework and what is
built on it"): a folder may include only itself and the folders beneath it, so the core never
depends on the experiment, and the framework builds without the GAN, the apps or the report.

    python3 scripts/check-layers.py [REPO]     # exit 0: clean; 1: each violation printed

Also checks where third-party headers may appear: CUDA, cuBLAS and cuDNN only in tensor/cuda/
and kernels/cuda/ (and the tests and benchmarks that drive them); Eigen only in gan/quality.cpp;
cairo only in report/. Standard library only (CTest `Layering` runs it)."""
import os
import re
import subprocess
import sys

CORE = ["tensor", "kernels", "autograd", "ops", "nn", "optim"]
FRAMEWORK = CORE + ["models", "datasets", "training"]

# What each top-level folder may include (its own folder is always allowed).
ALLOWED = {
    **{folder: CORE for folder in CORE},
    "models": CORE,
    "datasets": CORE,
    "training": CORE + ["models", "datasets"],
    "gan": FRAMEWORK,
    "report": CORE,
    "experiment": FRAMEWORK + ["gan", "apps", "report"],
    "apps": FRAMEWORK + ["gan", "experiment", "report"],
}
# Built on everything: free to include any folder.
UNRESTRICTED = {"tests", "bench", "fuzz", "tools"}

# Third-party headers and the files allowed to include them (prefixes of the repo path).
THIRD_PARTY = [
    (re.compile(r"^(cuda|cuda_runtime|cuda_runtime_api|cuda_bf16|cuda_fp16|curand)[\w.]*\.h$|^cub/"),
     ["tensor/cuda/", "kernels/cuda/"], "the CUDA runtime"),
    (re.compile(r"^(cublas|cublasLt)[\w.]*\.h$"), ["kernels/cuda/"], "cuBLAS"),
    (re.compile(r"^cudnn[\w.]*\.h$"), ["kernels/cuda/"], "cuDNN"),
    (re.compile(r"^Eigen/"), ["gan/quality.cpp"], "Eigen"),
    (re.compile(r"^cairo"), ["report/"], "cairo"),
]

INCLUDE = re.compile(r'^\s*#\s*include\s*([<"])([^>"]+)[>"]')
SOURCE = re.compile(r"\.(h|hpp|cpp|cc|cu|cuh)$")


def tracked_sources(repo):
    out = subprocess.run(["git", "-C", repo, "ls-files"], capture_output=True, text=True,
                         check=True).stdout
    return [p for p in out.splitlines() if SOURCE.search(p)]


def violations(repo):
    found = []
    for path in tracked_sources(repo):
        folder = path.split("/", 1)[0]
        if "/" not in path or folder in UNRESTRICTED:
            continue
        with open(os.path.join(repo, path), encoding="utf-8", errors="replace") as f:
            for number, line in enumerate(f, 1):
                m = INCLUDE.match(line)
                if not m:
                    continue
                header = m.group(2)
                for pattern, places, name in THIRD_PARTY:
                    if pattern.search(header) and not any(path.startswith(p) for p in places):
                        found.append(f"{path}:{number}: includes {name} ({header}); only "
                                     f"{', '.join(places)} may")
                if m.group(1) != '"' or "/" not in header:
                    continue
                target = header.split("/", 1)[0]
                if not os.path.isdir(os.path.join(repo, target)) or target == folder:
                    continue
                if folder not in ALLOWED:
                    found.append(f"{path}:{number}: folder {folder}/ has no layer in "
                                 "scripts/check-layers.py; add it there")
                elif target not in ALLOWED[folder]:
                    found.append(f"{path}:{number}: {folder}/ includes {header}, from {target}/, "
                                 f"which {folder}/ may not include (allowed: {', '.join(ALLOWED[folder])})")
    return found


def main():
    repo = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..")
    found = violations(os.path.abspath(repo))
    for line in found:
        print(line)
    print(f"check-layers: {len(found)} violation(s)" if found else "check-layers: clean")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
