"""What 2 MB pages give and cost: fresh ``resnet`` processes with and without
``GLIBC_TUNABLES=glibc.malloc.hugetlb=1`` (glibc 2.35+ then asks Linux for transparent huge
pages for every block malloc maps, which THP's ``madvise`` mode requires).

Run:  .venv/bin/python benchmarks/hugepages.py [--rounds 3] [--count 200]

Model only: ``resnet bench`` (median of 3 repeats) per model (SqueezeNet 1.1, ResNet-18
with random weights: speed does not depend on the values), installed engine and batch
size. End to end: ``resnet predict`` of ResNet-18 over ``--count`` images (the ImageNet
sample beside the checkout, else images cut from tests/data) and cold on one photo
(``tests/data/coffee.png``): wall and CPU time (user + system) and peak RSS of the whole
process, start-up included. Every round runs both settings, one fresh process each, the
order alternating round by round; printed: medians over rounds and the ratio with 2 MB
pages over without (the median of the per-round ratios).
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from devdata import PHOTOS, Measured, cpu_model, first_images, image_folder, measured

from resnet_cli import engines

CLI = [sys.executable, "-m", "resnet_cli"]
TUNABLE = "glibc.malloc.hugetlb=1"
PHOTO = PHOTOS / "coffee.png"
THP = Path("/sys/kernel/mm/transparent_hugepage/enabled")


def run(args: list[str], on_2mb: bool) -> Measured:
    """One fresh ``resnet`` process, with the tunable or without."""
    env = {k: v for k, v in os.environ.items() if k != "GLIBC_TUNABLES"}
    if on_2mb:
        env["GLIBC_TUNABLES"] = TUNABLE
    return measured([*CLI, *args], env=env, capture=True)


def paired(args: list[str], rounds: int, measure: Callable[[Measured], Any]
           ) -> tuple[list[Any], list[Any]]:
    """``measure(run's result)`` without and with 2 MB pages, a fresh process each, the
    order alternating round by round."""
    off, on = [], []
    for r in range(rounds):
        for on_2mb in ((False, True) if r % 2 == 0 else (True, False)):
            (on if on_2mb else off).append(measure(run(args, on_2mb)))
    return off, on


def describe(what: str, off: list[float], on: list[float]) -> str:
    """Medians without -> with 2 MB pages, and the median of the per-round ratios."""
    ratio = statistics.median(b / a for a, b in zip(off, on, strict=True))
    return f"{what} {statistics.median(off):.2f} -> {statistics.median(on):.2f} x{ratio:.3f}"


def model_only(run: Measured) -> float:
    return float(re.search(r"^model-only\s+([\d.]+)", run.stdout, re.MULTILINE).group(1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--count", type=int, default=200, help="images for end to end")
    parser.add_argument("--images", type=Path, help="folder for end to end")
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 32])
    args = parser.parse_args()
    mode = THP.read_text().strip() if THP.exists() else "absent"
    if "[madvise]" not in mode:
        raise SystemExit(f"THP mode {mode!r}: the tunable changes nothing unless it is madvise")
    names = [e for e in engines.ENGINES if engines.installed(e)]
    print(f"{cpu_model()}, {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}, "
          f"{os.confstr('CS_GNU_LIBC_VERSION')}, THP {mode}, engines {', '.join(names)}; "
          f"{args.rounds} rounds")
    with tempfile.TemporaryDirectory() as tmp:
        dirs = {}
        for model, weights in (("squeezenet1.1", "--pretrained"),
                               ("resnet18_v1", "--random-init")):
            dirs[model] = Path(tmp) / model
            subprocess.run([*CLI, "build", "-m", model, weights, "--format", "mxnet,onnx",
                            "-o", str(dirs[model])], check=True, capture_output=True)
        for model, directory in dirs.items():
            for engine in names:
                for batch in args.batch_sizes:
                    off, on = paired(["bench", "--model-dir", str(directory), "--engine",
                                      engine, "-b", str(batch), "--repeats", "3"],
                                     args.rounds, model_only)
                    print(f"model only, {model} {engine} batch {batch}: "
                          f"{describe('img/s', off, on)}")
        folder = first_images(image_folder(args.images, args.count), args.count,
                              Path(tmp) / "images")
        for engine in names:
            for what, images in ((f"{args.count} images", folder), ("cold, one photo", PHOTO)):
                off, on = paired(["predict", "--model-dir", str(dirs["resnet18_v1"]),
                                  "--engine", engine, str(images)], args.rounds, lambda run: run)
                line = ", ".join(describe(name, [getattr(r, field) for r in off],
                                          [getattr(r, field) for r in on])
                                 for field, name in (("wall_s", "wall s"), ("cpu_s", "CPU s"),
                                                     ("peak_rss_mib", "peak RSS MiB")))
                print(f"resnet predict, ResNet-18 {engine}, {what}: {line}")
    print(f"load after: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
