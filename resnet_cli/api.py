"""The public Python API, used by the CLI and the benchmarks alike.

    import resnet_cli
    classifier = resnet_cli.load("squeezenet1.1")
    classifier.predict(["photo.jpg"], k=3)          # [[Prediction(...), ...]]
    for record in resnet_cli.classify(["photos/"], model="squeezenet1.1"):
        print(record.path, record.predictions[0].label if record.predictions else record.error)
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from dataclasses import replace
from typing import TYPE_CHECKING, BinaryIO

from resnet_cli.classifier import Classifier
from resnet_cli.decode import ResizeMode
from resnet_cli.inputs import expand
from resnet_cli.records import Record, Source
from resnet_cli.registry import DEFAULT_MODEL
from resnet_cli.weights.fetch import Notify, quiet

if TYPE_CHECKING:
    from resnet_cli.engine import Preprocess

DEFAULT_BATCH_SIZE = 16


def load(model: str = DEFAULT_MODEL, weights: str | os.PathLike[str] | None = None,
         model_dir: str | os.PathLike[str] | None = None, *, fuse: bool = True,
         resize: ResizeMode | None = None, progress: bool = False, notify: Notify = quiet,
         engine: str | None = None, precision: str | None = None,
         batch_size: int = DEFAULT_BATCH_SIZE) -> Classifier:
    """A ready classifier: from a ``resnet build`` directory, or a model name (with
    ``weights`` as its ``.params``, else the bundled or cached file, fetched if needed).

    ``fuse=False`` keeps the plain graph (no oneDNN fusion); ``resize="exact"`` decodes
    every image at full size (default: the model directory's setting, else "fast", which
    decodes large photos shrunk; see decode.py); ``progress`` draws download bars and
    ``notify`` receives messages about fetching. ``engine``: mxnet (default), onnxruntime
    or openvino, or auto: the fastest for ``batch_size`` here (see
    :mod:`resnet_cli.engines`); ``precision="int8"`` runs that engine's int8 model from
    ``model_dir``.
    """
    from resnet_cli import engines

    classifier = engines.load(engine, model, weights, model_dir, progress=progress,
                              notify=notify, fuse=fuse, precision=precision,
                              batch_size=batch_size)
    if resize is not None:
        classifier.preprocess = replace(classifier.preprocess, resize_mode=resize)
    return classifier


def classify(inputs: Iterable[str | os.PathLike[str] | Source],
             model: str = DEFAULT_MODEL, *, classifier: Classifier | None = None, k: int = 5,
             batch_size: int = DEFAULT_BATCH_SIZE, workers: int | None = None,
             pattern: str | None = None, stdin: BinaryIO | None = None,
             null: bool = False, preprocess: Preprocess | None = None) -> Iterator[Record]:
    """One :class:`Record` per image, in input order, streamed as batches finish.

    ``inputs``: files, folders (walked, sorted; ``pattern`` filters names), ``Source``
    values, or ``-`` for paths read from ``stdin``.  A bad input becomes a record with
    ``error`` set; the rest go on.  ``classifier`` defaults to ``load(model)``;
    ``preprocess`` (path -> tensor) to its own preprocessing (the report wraps it to keep
    a thumbnail of each decode).
    """
    from resnet_cli import engine, settings

    classifier = classifier or load(model)
    sources = _sources(inputs, pattern, stdin, null)
    return engine.classify(sources, classifier, batch_size,
                           workers or settings.current().cores, k, preprocess)


def _sources(inputs: Iterable[str | os.PathLike[str] | Source], pattern: str | None,
             stdin: BinaryIO | None, null: bool) -> Iterator[Source]:
    for item in inputs:
        if isinstance(item, Source):
            yield item
        else:
            yield from expand([os.fspath(item)], pattern, stdin, null)
