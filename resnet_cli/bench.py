"""Throughput measurement, shared by ``resnet bench`` and ``benchmarks/batch_throughput.py``.

Each measured thing is a *run*: a callable doing a fixed amount of work and returning how
many images it did.  :func:`paired` alternates the runs round by round, so every
comparison (end-to-end / model-only) is between rounds taken side by side.
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from resnet_cli import api, inputs
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


def model_only(classifier: Classifier, batch: np.ndarray, seconds: float = 1.0) -> Run:
    """Forward passes over ``batch``, as many as last about ``seconds``; warmed up."""
    start = time.perf_counter()
    classifier.logits(batch)
    per_batch = time.perf_counter() - start
    iterations = max(1, round(seconds / max(per_batch, 1e-3)))

    def run() -> int:
        for _ in range(iterations):
            classifier.logits(batch)
        return iterations * len(batch)

    run()  # warm-up: first passes allocate and tune
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


def paired(runs: dict[str, Run], repeats: int) -> list[Measurement]:
    """Images/s of each run, the runs alternating in every one of ``repeats`` rounds; the
    order rotates each round, so no run always follows the same one (whose threads may
    still be spinning down, or whose memory traffic has just flushed the caches)."""
    rates: dict[str, list[float]] = {label: [] for label in runs}
    order = list(runs.items())
    for repeat in range(repeats):
        shift = repeat % len(order)
        for label, run in order[shift:] + order[:shift]:
            start = time.perf_counter()
            count = run()
            rates[label].append(count / (time.perf_counter() - start))
    return [Measurement(label, values) for label, values in rates.items()]
