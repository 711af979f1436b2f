"""Cold-process wall time of ``resnet predict one.jpg`` vs a minimal MXNet script, and ``--help``.

Run:  .venv/bin/python benchmarks/cold_start.py [--model resnet18_v1] [--image PATH]
      .venv/bin/python benchmarks/cold_start.py --help-only --repeats 21

``resnet predict`` is compared with the least a Python process needs for the same answer:
import MXNet, build the network, load the cached weights, preprocess one image and run one
forward pass.  Weights must be cached (``resnet weights fetch`` or ``import``); without
them the benchmark uses the bundled squeezenet1.1.  ``resnet --help`` (the installed
console script, as a user types it; target under 0.2 s) is timed beside them.  Commands
alternate; medians of ``--repeats``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

from devdata import ROOT, measured

from resnet_cli.weights.cache import cached_path
from resnet_cli.weights.catalog import bundled_path

MINIMAL = """
import sys
import numpy as np
from resnet_cli.runtime import mxnet  # mxnet 1.9 needs numpy's old aliases back first
mx = mxnet()
from PIL import Image
from resnet_cli.registry import get
net = get(sys.argv[1]).build(classes=1000)
net.load_parameters(sys.argv[2])
img = Image.open(sys.argv[3]).convert("RGB").resize((224, 224))
x = (np.asarray(img, np.float32) / 255 - 0.45) / 0.225
print(net(mx.nd.array(x.transpose(2, 0, 1)[None])).asnumpy().argmax())
"""
HELP_TARGET_S = 0.2


def timed(cmd: list[str]) -> tuple[float, float]:
    """Wall seconds and CPU seconds (user + system) of one run of ``cmd``."""
    run = measured(cmd)
    return run.wall_s, run.cpu_s


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="resnet18_v1")
    parser.add_argument("--image", type=Path, default=ROOT / "tests" / "data" / "coffee.png")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--help-only", action="store_true", help="time only 'resnet --help'")
    args = parser.parse_args()

    resnet_script = str(Path(sys.executable).with_name("resnet"))
    commands = {"python -c pass": [sys.executable, "-c", "pass"],  # the interpreter's floor
                "resnet --help": [resnet_script, "--help"]}
    model = args.model
    if not args.help_only:
        path = bundled_path(model) or cached_path(model)
        if not path.is_file():
            print(f"{model} weights not cached at {path}; using squeezenet1.1")
            model, path = "squeezenet1.1", bundled_path("squeezenet1.1")
        commands = {
            "minimal script": [sys.executable, "-c", MINIMAL, model, str(path), str(args.image)],
            "resnet predict": [resnet_script, "predict", "-m", model, str(args.image)],
            **commands,
        }
    times: dict[str, list[tuple[float, float]]] = {name: [] for name in commands}
    for _ in range(args.repeats):
        for name, cmd in commands.items():
            times[name].append(timed(cmd))
    medians = {name: statistics.median(w for w, _ in t) for name, t in times.items()}
    cpu = {name: statistics.median(c for _, c in t) for name, t in times.items()}
    print(f"{model}, one image, cold process, {args.repeats} alternating runs")
    for name, median in medians.items():
        runs = " ".join(f"{w:.2f}" for w, _ in times[name])
        print(f"{name:<16} median {median:5.3f} s wall, {cpu[name]:5.3f} s CPU   (runs {runs})")
    if not args.help_only:
        ratio = medians["resnet predict"] / medians["minimal script"]
        print(f"resnet predict / minimal script: {ratio:.2f}x  (target <= 1.3x)")
    print(f"resnet --help: {medians['resnet --help']:.3f} s wall, {cpu['resnet --help']:.3f} s "
          f"CPU  (target < {HELP_TARGET_S} s)")


if __name__ == "__main__":
    main()
