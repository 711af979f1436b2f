"""Issue 4 benchmark: end-to-end vs model-only throughput, and peak RSS vs input count.

Run:  .venv/bin/python benchmarks/batch_throughput.py [--model squeezenet1.1] [--batch-size 16]

Model-only: the images are preprocessed into memory first, then only forward passes are
timed.  End-to-end: files on disk -> decode threads -> batches -> JSON lines written to
/dev/null, through the same engine and writer as ``resnet predict``.  The two alternate
``--repeats`` times and the medians are compared.  Peak RSS: ``resnet predict -`` in a child
process over 1,000 and 10,000 paths (the sample repeated), read from the kernel's rusage.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from resnet_cli import engine, inputs, models
from resnet_cli.classifier import Classifier
from resnet_cli.output import JsonLinesWriter
from resnet_cli.preprocess import Preprocessing
from resnet_cli.runtime import available_cores

SAMPLE = Path(__file__).resolve().parents[2] / "shared" / "data" / "imagenet-sample"


def model_only(classifier: Classifier, tensors: np.ndarray, batch_size: int) -> float:
    start = time.perf_counter()
    for i in range(0, len(tensors), batch_size):
        classifier.predict(tensors[i:i + batch_size], 5)
    return len(tensors) / (time.perf_counter() - start)


def end_to_end(classifier: Classifier, files: list[str], preprocess: Preprocessing,
               batch_size: int, workers: int) -> float:
    start = time.perf_counter()
    with open(os.devnull, "w") as sink:
        writer = JsonLinesWriter(sink, 5)
        sources = inputs.expand(files)
        for record in engine.classify(sources, classifier, preprocess, batch_size, workers, 5):
            writer.write(record)
    return len(files) / (time.perf_counter() - start)


def peak_rss_mib(model: str, paths: list[str], batch_size: int) -> float:
    """Peak RSS of a whole ``resnet predict -`` run over ``paths``, in MiB."""
    with tempfile.TemporaryFile() as listing:
        listing.write("".join(p + "\n" for p in paths).encode())
        listing.seek(0)
        proc = subprocess.Popen(
            [sys.executable, "-m", "resnet_cli", "predict", "--model", model, "-f", "jsonl",
             "-b", str(batch_size), "-q", "-"],
            stdin=listing, stdout=subprocess.DEVNULL)
        _, status, usage = os.wait4(proc.pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"resnet predict failed with status {status}")
    return usage.ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=models.BUNDLED_MODEL)
    parser.add_argument("--weights", default=None)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--workers", type=int, default=available_cores())
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--images", type=Path, default=SAMPLE)
    parser.add_argument("--skip-rss", action="store_true")
    args = parser.parse_args()

    files = sorted(str(p) for p in args.images.iterdir())
    if not args.skip_rss:
        # First, while this process is small: a child's ru_maxrss also counts the pages
        # it shared with its parent before exec.
        small = peak_rss_mib(args.model, files, args.batch_size)
        large = peak_rss_mib(args.model, files * 10, args.batch_size)
        print(f"peak RSS  {len(files):>6} inputs: {small:7.1f} MiB")
        print(f"peak RSS  {10 * len(files):>6} inputs: {large:7.1f} MiB")
        print(f"RSS growth 10x inputs: {100 * (large / small - 1):+.1f}%  (target < 10%)")
    classifier = Classifier.load(args.model, args.weights)
    preprocess = Preprocessing(*models.input_size(args.model))
    tensors = np.stack([preprocess(f) for f in files])
    model_only(classifier, tensors[: 4 * args.batch_size], args.batch_size)  # warm-up

    mo, e2e = [], []
    for _ in range(args.repeats):
        mo.append(model_only(classifier, tensors, args.batch_size))
        e2e.append(end_to_end(classifier, files, preprocess, args.batch_size, args.workers))
    m_mo, m_e2e = statistics.median(mo), statistics.median(e2e)
    print(f"model {args.model}, batch {args.batch_size}, workers {args.workers}, "
          f"{len(files)} images, cores {available_cores()}")
    print(f"model-only   images/s: median {m_mo:7.1f}  runs {[round(x, 1) for x in mo]}")
    print(f"end-to-end   images/s: median {m_e2e:7.1f}  runs {[round(x, 1) for x in e2e]}")
    print(f"ratio end-to-end / model-only: {m_e2e / m_mo:.3f}  (target >= 0.9)")



if __name__ == "__main__":
    main()
