"""resnet's ``--engine auto`` against the latest ONNX Runtime and OpenVINO, model only, paired.

Runs in its OWN environment (numpy 2 and the newest runtimes, not pinned by MXNet):

    python3.12 -m venv .venv-compare
    .venv-compare/bin/pip install onnxruntime openvino numpy
    .venv-compare/bin/python benchmarks/compare.py --resnet .venv/bin/python

For SqueezeNet 1.1 (bundled weights) and ResNet-18 (random weights: speed does not depend
on the values) resnet's own venv builds two model directories: fp32 (``--format
mxnet,onnx``) and int8 (``--format onnx --int8``, calibrated on ``--calibrate`` images;
each engine's int8 model is kept only if it passes the accuracy gate). Then, for each
model, batch size (1, 32) and precision, one worker process per contestant loads its model
and waits: resnet ``auto`` (in resnet's venv, ``--precision`` fp32 for the fp32 cells, any
for int8), and each peer (this venv's ONNX Runtime and OpenVINO, default settings except
OpenVINO's precision hint f32 for fp32 cells, running the same ONNX files).

Taking turns fairly: the workers are separate processes, two per contestant, started in
the order A B C then C B A (a process started later ran faster here, by up to 1.39x among
six identical ones, so one process each would favour whoever starts last), all loaded and
warmed up before timing starts, and only one computes at a time: the coordinator sends
"run" to one worker and waits for its reply (time measured inside the worker around a
fixed number of batches) before the next; the others block on reading stdin. Before each
run the coordinator waits until no worker's thread is still running (ONNX Runtime's spin
on for about 25 ms after a run and would take a core from the next contestant). Every
round runs every process once, in an order that changes each round (rotated, and reversed
every other round: who leads and who follows whom both change; ``resnet_cli.turns``,
standard library only, imported from the checkout), so drift in the machine's load hits
all alike. A contestant's rate in a round is the images its two processes did over the
time they took. Printed: medians, and the median over rounds of auto's rate / the peer's
rate (>= 1: auto as fast or faster).

Only some cells: ``--models resnet18_v1 --precisions fp32 --batch-sizes 32``. With
``--control``, a second pair of processes of each peer takes its turns too, and the peer's rate over
its twin's shows how far apart one runtime lands from itself: the noise a ratio must clear. With
``--resnet-engine onnxruntime`` (or openvino, mxnet) resnet's contestant is that engine
instead of auto: its session against the bare runtime's, same files, same turns.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from devdata import SAMPLE, cpu_model, first_images

HERE = Path(__file__).resolve()
sys.path.insert(0, str(HERE.parents[1]))  # resnet_cli.turns: standard library only
from resnet_cli import turns  # noqa: E402

MODELS = ("squeezenet1.1", "resnet18_v1")


# Worker side: one contestant in one process, driven over stdin/stdout.


def peer_runner(kind: str, model: Path, precision: str) -> object:
    if kind == "onnxruntime":
        import onnxruntime

        session = onnxruntime.InferenceSession(str(model), providers=["CPUExecutionProvider"])
        name = session.get_inputs()[0].name
        return lambda batch: session.run(None, {name: batch})[0]
    import openvino

    config = {"INFERENCE_PRECISION_HINT": "f32"} if precision == "fp32" else {}
    compiled = openvino.Core().compile_model(str(model), "CPU", config)
    request = compiled.create_infer_request()
    return lambda batch: request.infer({0: batch})[0]


def resnet_runner(model_dir: Path, precision: str, batch_size: int, engine: str
                  ) -> tuple[object, str]:
    import resnet_cli

    clf = resnet_cli.load(model_dir=model_dir, engine=engine, batch_size=batch_size,
                          precision=precision if engine != "auto" or precision == "fp32"
                          else None)
    return clf.logits, f"{clf.engine} {clf.precision}"


def worker(args: argparse.Namespace) -> None:
    batch = np.random.default_rng(0).standard_normal((args.batch, 3, 224, 224),
                                                     dtype=np.float32)
    if args.kind == "resnet":
        run, picked = resnet_runner(Path(args.model), args.precision, args.batch,
                                    args.resnet_engine)
    else:
        run, picked = peer_runner(args.kind, Path(args.model), args.precision), ""
    for _ in range(3):  # warm-up
        run(batch)
    start = time.perf_counter()
    run(batch)
    print(json.dumps({"seconds": time.perf_counter() - start, "picked": picked}), flush=True)
    for line in sys.stdin:
        count = int(line)
        start = time.perf_counter()
        for _ in range(count):
            run(batch)
        print(json.dumps({"rate": count * args.batch / (time.perf_counter() - start)}),
              flush=True)


# Coordinator side.


class Contestant:
    def __init__(self, label: str, python: str, kind: str, model: Path, precision: str,
                 batch: int, seconds: float, *more: str) -> None:
        self.label, self.kind = label, kind
        self.process = subprocess.Popen(
            [python, str(HERE), "--worker", kind, "--model", str(model), "--precision",
             precision, "--batch", str(batch), *more],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        ready = json.loads(self.process.stdout.readline())
        self.picked = ready["picked"]
        self.count = max(1, round(seconds / ready["seconds"]))
        self.rates: list[float] = []

    def run(self) -> None:
        self.process.stdin.write(f"{self.count}\n")
        self.process.stdin.flush()
        self.rates.append(json.loads(self.process.stdout.readline())["rate"])

    def close(self) -> None:
        self.process.stdin.close()
        self.process.wait(timeout=60)


def build_dirs(resnet: str, out: Path, calibrate: Path, models: list[str],
               precisions: list[str]) -> dict[tuple[str, str], Path]:
    """fp32 and int8 model directories of each model, built by resnet's own CLI."""
    cli = [resnet, "-m", "resnet_cli"]
    dirs = {}
    for model in models:
        weights = ["--pretrained"] if model == "squeezenet1.1" else ["--random-init"]
        for precision, extra in (("fp32", ["--format", "mxnet,onnx"]),
                                 ("int8", ["--format", "onnx", "--int8", "--calibrate",
                                           str(calibrate)])):
            if precision not in precisions:
                continue
            path = out / f"{model}-{precision}"
            done = subprocess.run([*cli, "build", "-m", model, *weights, *extra, "-o",
                                   str(path)], capture_output=True, text=True, check=True)
            for line in done.stdout.splitlines():
                if " int8 (" in line:
                    print(f"  {model}: {line}")
            dirs[model, precision] = path
    return dirs


def peers(directory: Path, precision: str) -> dict[str, tuple[str, Path]]:
    """The peers and the file each runs: the same ONNX network resnet runs."""
    if precision == "fp32":
        return {"onnxruntime": ("onnxruntime", directory / "model.onnx"),
                "openvino": ("openvino", directory / "model.onnx")}
    found = {}
    if (directory / "model-int8.onnx").exists():
        found["onnxruntime int8"] = ("onnxruntime", directory / "model-int8.onnx")
    if (directory / "openvino-int8.xml").exists():
        found["openvino int8"] = ("openvino", directory / "openvino-int8.xml")
    return found


def cell(resnet: str, engine: str, directory: Path, precision: str, batch: int, rounds: int,
         seconds: float, control: bool = False) -> list[str]:
    specs = [(f"resnet {engine}", resnet, "resnet", directory, "--resnet-engine", engine)]
    specs += [(label, sys.executable, kind, path)
              for label, (kind, path) in peers(directory, precision).items()]
    twins = [(f"{label} again", *rest) for label, *rest in specs[1:]] if control else []
    specs += twins
    # Two processes per contestant, started A B C then C B A: here a process started later
    # ran faster (six identical ResNet-18 sessions: 1.18-1.39x the first, by start order
    # alone). The first started was slowest of all: resnet's ONNX Runtime session, started
    # first, read 0.87-0.91x the bare one at ResNet-18 batch 32, and 1.06-1.08x when the
    # bare one went first. So a pilot, never timed, is started before them all.
    pilot_label, pilot_python, pilot_kind, pilot_model, *_ = specs[-1]
    processes: list[Contestant] = []
    pilot = Contestant(pilot_label, pilot_python, pilot_kind, pilot_model, precision, batch,
                       seconds)
    try:
        for label, python, kind, model, *more in specs + specs[::-1]:
            processes.append(Contestant(label, python, kind, model, precision, batch, seconds,
                                        *more))
        pids = [process.process.pid for process in processes]
        for r in range(rounds):
            for process in turns.order(processes, r):
                turns.quiet(pids)
                process.run()
    finally:
        for process in [pilot, *processes]:
            process.close()
    rates = {label: [2 / (1 / a + 1 / b) for a, b in zip(
        *(p.rates for p in processes if p.label == label), strict=True)]
        for label, *_ in specs}  # per round: images over the time both processes took
    picked = " / ".join(dict.fromkeys(p.picked for p in processes if p.kind == "resnet"))
    auto = rates[specs[0][0]]
    lines = [f"resnet {engine} -> {picked:<17} {statistics.median(auto):8.1f} img/s"]
    for label, *_ in specs[1:len(specs) - len(twins)]:
        lines.append(f"{label:<30} {statistics.median(rates[label]):8.1f} img/s  "
                     f"{engine}/peer x{paired_ratio(auto, rates[label]):.2f}")
    for label, *_ in twins:
        peer = label.removesuffix(" again")
        lines.append(f"control: {peer} / a second {peer} pair of processes "
                     f"x{paired_ratio(rates[peer], rates[label]):.2f} (the same runtime "
                     f"against itself)")
    return lines


def paired_ratio(a: list[float], b: list[float]) -> float:
    """The median over rounds of a's rate / b's in the same round."""
    return statistics.median(x / y for x, y in zip(a, b, strict=True))


def versions() -> str:
    import onnxruntime
    import openvino

    return (f"peers: onnxruntime {onnxruntime.__version__}, openvino "
            f"{openvino.get_version().split('-')[0]}, numpy {np.__version__}, "
            f"Python {sys.version.split()[0]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--resnet", default=".venv/bin/python",
                        help="Python of resnet's own venv")
    parser.add_argument("--calibrate", type=Path, default=SAMPLE,
                        help="Labelled images for the int8 builds (default: the sample)")
    parser.add_argument("--calibration-images", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=1.0)
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 32])
    parser.add_argument("--models", nargs="+", choices=MODELS, default=list(MODELS),
                        help="Only these models' cells")
    parser.add_argument("--precisions", nargs="+", choices=("fp32", "int8"),
                        default=["fp32", "int8"], help="Only these precisions' cells")
    parser.add_argument("--resnet-engine", default="auto",
                        choices=("auto", "mxnet", "onnxruntime", "openvino"),
                        help="resnet's contestant: auto (the point), or one engine, to "
                             "compare its session with the bare runtime's")
    parser.add_argument("--control", action="store_true",
                        help="also run a second process of each peer and print the peer "
                             "against itself: the noise a ratio must clear")
    parser.add_argument("--worker", choices=("resnet", "onnxruntime", "openvino"))
    parser.add_argument("--model", type=Path)
    parser.add_argument("--precision", choices=("fp32", "int8"))
    parser.add_argument("--batch", type=int)
    args = parser.parse_args()
    if args.worker:
        args.kind = args.worker
        worker(args)
        return
    print(f"{cpu_model()}, {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}; "
          f"{versions()}; {args.rounds} paired rounds of ~{args.seconds:g} s")
    with tempfile.TemporaryDirectory() as tmp:
        calibrate = first_images(args.calibrate, args.calibration_images,
                                 Path(tmp) / "calibration")
        os.environ.setdefault("RESNET_HOME", str(Path(tmp) / "home"))  # auto measures anew
        dirs = build_dirs(args.resnet, Path(tmp), calibrate, args.models, args.precisions)
        for (model, precision), directory in dirs.items():
            for batch in args.batch_sizes:
                print(f"{model} {precision} batch {batch}:")
                for line in cell(args.resnet, args.resnet_engine, directory, precision, batch,
                                 args.rounds, args.seconds, args.control):
                    print("  " + line)
    print(f"load after: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
