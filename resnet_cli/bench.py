"""Throughput measurement, shared by ``resnet bench`` and ``benchmarks/batch_throughput.py``.

Each measured thing is a *run*: a callable doing a fixed amount of work and returning how
many images it did.  :func:`paired` alternates the runs round by round, so every
comparison (end-to-end / model-only) is between rounds taken side by side.
"""

from __future__ import annotations

import os
import re
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from resnet_cli import api, inputs, turns
from resnet_cli.classifier import Classifier
from resnet_cli.output import JsonLinesWriter

Run = Callable[[], int]


@dataclass(frozen=True)
class Measurement:
    label: str
    images_per_second: list[float]

    @property
    def median(self) -> float:
        return statistics.median(self.images_per_second)


def image_paths(folder: Path) -> list[str]:
    """The images under ``folder``, in the order ``resnet predict`` would take them."""
    return [s.path for s in inputs.expand([str(folder)]) if not s.error]


def batch_of(classifier: Classifier, batch_size: int, images: Path | None = None
             ) -> np.ndarray:
    """A preprocessed batch: real images from ``images`` (repeated to fill it), else noise."""
    if images is None:
        crop = classifier.input_size[1]
        return np.random.default_rng(0).standard_normal((batch_size, 3, crop, crop),
                                                        dtype=np.float32)
    tensors = [classifier.preprocess(p) for p in image_paths(images)[:batch_size]]
    return np.stack(tensors * (batch_size // max(1, len(tensors)) + 1))[:batch_size]


def on_huge_pages() -> int:
    """Bytes of this process's memory on 2 MB transparent huge pages (0 off Linux), which
    ``resnet bench`` prints so that a figure says what it measured: the engines' buffers
    are on them only when started with ``GLIBC_TUNABLES=glibc.malloc.hugetlb=1`` (README,
    Speed, 2 MB pages)."""
    try:
        text = Path("/proc/self/smaps_rollup").read_text()
    except OSError:
        return 0
    found = re.search(r"^AnonHugePages:\s+(\d+) kB", text, re.MULTILINE)
    return int(found.group(1)) * 1024 if found else 0


WARM_UP = 3  # passes before timing: the first ones allocate, compile and tune


def model_only(classifier: Classifier, batch: np.ndarray, seconds: float = 1.0,
               clock: Callable[[], float] = time.perf_counter) -> Run:
    """Forward passes over ``batch``, as many as last about ``seconds``, counted on warm
    passes. Counting on the first pass, as we did, cut rounds short: SqueezeNet int8 at
    batch 1 took 21 ms on OpenVINO's first pass and 1.8 ms from its second, so auto's
    "0.25 s" rounds lasted 22 ms, too short to rank engines 10% apart."""

    def passes(count: int) -> float:
        start = clock()
        for _ in range(count):
            classifier.logits(batch)
        return clock() - start

    warm = 0.0
    for _ in range(WARM_UP):  # at most about one round's time (large batches, slow nets)
        if warm >= seconds:
            break
        warm += passes(1)
    counted, took = 0, 0.0
    while took < seconds / 4 or not counted:  # a quarter round of warm passes sizes it
        took += passes(1)
        counted += 1
    iterations = max(1, round(seconds * counted / max(took, 1e-9)))

    def run() -> int:
        passes(iterations)
        return iterations * len(batch)

    return run


def end_to_end(classifier: Classifier, paths: list[str], batch_size: int, workers: int
               ) -> Run:
    """Files on disk to JSON lines (written to /dev/null), through ``resnet_cli.classify``."""

    def run() -> int:
        with open(os.devnull, "w") as sink:
            writer = JsonLinesWriter(sink, 5)
            for record in api.classify(paths, classifier=classifier, batch_size=batch_size,
                                       workers=workers, k=5):
                writer.write(record)
        return len(paths)

    return run


def paired(runs: dict[str, Run], repeats: int, settle: Callable[[], object] = lambda: None
           ) -> list[Measurement]:
    """Images/s of each run, the runs taking turns in every one of ``repeats`` rounds, in
    an order that changes each round (:func:`turns.order`: who leads and who follows
    whom); ``settle`` runs, untimed, before each run (auto waits there for the measuring
    processes' threads to stop: :func:`turns.quiet`)."""
    rates: dict[str, list[float]] = {label: [] for label in runs}
    for repeat in range(repeats):
        for label, run in turns.order(list(runs.items()), repeat):
            settle()
            start = time.perf_counter()
            count = run()
            rates[label].append(count / (time.perf_counter() - start))
    return [Measurement(label, values) for label, values in rates.items()]
