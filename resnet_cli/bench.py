"""Throughput measurement for ``resnet bench``: medians of timed repeats after warm-up."""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from resnet_cli import engine, inputs
from resnet_cli.classifier import Classifier
from resnet_cli.output import JsonLinesWriter
from resnet_cli.preprocess import Preprocessing


@dataclass(frozen=True)
class Measurement:
    label: str
    images_per_second: list[float]

    @property
    def median(self) -> float:
        return statistics.median(self.images_per_second)


def repeat(run: Callable[[], int], repeats: int, warmup: int = 1) -> list[float]:
    """Images/s of ``run`` (which returns how many images it did), per repeat."""
    for _ in range(warmup):
        run()
    rates = []
    for _ in range(repeats):
        start = time.perf_counter()
        count = run()
        rates.append(count / (time.perf_counter() - start))
    return rates


def model_only(classifier: Classifier, batch_size: int, repeats: int,
               seconds: float = 1.0, images: Path | None = None) -> Measurement:
    """Forward passes on one batch (real images if given, else random), enough per repeat
    to last about ``seconds``."""
    crop = classifier.input_size[1]
    if images is not None:
        pre = Preprocessing(*classifier.input_size)
        paths = [s.path for s in inputs.expand([str(images)]) if not s.error][:batch_size]
        batch = np.stack([pre(p) for p in paths] * (batch_size // max(1, len(paths)) + 1))
        batch = batch[:batch_size]
    else:
        batch = np.random.default_rng(0).standard_normal((batch_size, 3, crop, crop),
                                                         dtype=np.float32)
    start = time.perf_counter()
    classifier.logits(batch)
    per_batch = time.perf_counter() - start
    iterations = max(1, round(seconds / max(per_batch, 1e-3)))

    def run() -> int:
        for _ in range(iterations):
            classifier.logits(batch)
        return iterations * batch_size

    return Measurement("model-only", repeat(run, repeats))


def end_to_end(classifier: Classifier, images: Path, batch_size: int, workers: int,
               repeats: int) -> Measurement:
    """Files on disk to JSON lines (written to /dev/null), through the predict engine."""
    preprocess = Preprocessing(*classifier.input_size)
    paths = [s.path for s in inputs.expand([str(images)]) if not s.error]

    def run() -> int:
        with open(os.devnull, "w") as sink:
            writer = JsonLinesWriter(sink, 5)
            for record in engine.classify(inputs.expand(paths), classifier, preprocess,
                                          batch_size, workers, 5):
                writer.write(record)
        return len(paths)

    return Measurement("end-to-end", repeat(run, repeats, warmup=0))
