"""What a run produces, as plain dataclasses: stdlib only, picklable, no numpy or MXNet.

``import resnet_cli.cli`` (and so ``resnet --help``) needs these types without the
inference stack; a worker process can send them back across a pipe or a cluster.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ImageNetClass:
    """One output class of a classifier: its index, WordNet id and readable label."""

    index: int
    wnid: str
    label: str


@dataclass(frozen=True)
class Source:
    """One input: a path to classify, or a path with the reason it cannot be."""

    path: str
    error: str | None = None


@dataclass(frozen=True)
class Prediction:
    rank: int
    index: int
    wnid: str
    label: str
    probability: float


@dataclass(frozen=True)
class Record:
    """The result for one input: predictions, or the one-line reason it failed."""

    path: str
    model: str
    predictions: list[Prediction] | None = None
    error: str | None = None
