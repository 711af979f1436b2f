"""A network with its weights loaded, turning preprocessed batches into probabilities."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import numpy as np

from resnet_cli import models, params, weights
from resnet_cli.classes import ImageNetClass, imagenet_classes
from resnet_cli.runtime import mxnet, optimize


@dataclass(frozen=True)
class Prediction:
    rank: int
    index: int
    wnid: str
    label: str
    probability: float


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax in float64, so small probabilities keep their digits."""
    z = logits.astype(np.float64)
    z -= z.max(axis=1, keepdims=True)
    np.exp(z, out=z)
    z /= z.sum(axis=1, keepdims=True)
    return z


def top_k(probabilities: np.ndarray, k: int,
          classes: tuple[ImageNetClass, ...]) -> list[list[Prediction]]:
    """The k most probable classes of each row, ties broken by class index."""
    order = np.argsort(-probabilities, axis=1, kind="stable")[:, :k]
    return [
        [Prediction(rank + 1, int(i), classes[i].wnid, classes[i].label, float(row[i]))
         for rank, i in enumerate(idx)]
        for row, idx in zip(probabilities, order, strict=True)
    ]


class Classifier:
    """Holds a hybridized network; ``probabilities`` maps NCHW float32 to (N, classes)."""

    def __init__(self, name: str, net: Any, classes: tuple[ImageNetClass, ...],
                 input_size: tuple[int, int] = (256, 224)) -> None:
        self.name = name
        self.net = net
        self.classes = classes
        self.input_size = input_size  # (resize shorter side, center crop)

    @classmethod
    def load(cls, model: str, weights_file: str | os.PathLike[str] | None = None,
             progress: bool = False, notify: weights.Notify = weights.quiet,
             fuse: bool = True) -> Classifier:
        """Build ``model``, load its weights (fetching them if needed) and optimize it.

        ``fuse=False`` keeps the plain hybridized graph (the reference path).
        """
        name = models.canonical_name(model)
        build = models.builder(name)
        path = weights.locate(name, weights_file, progress=progress, notify=notify)
        net = build(classes=1000)
        params.load_into(net, path)
        input_size = models.input_size(name)
        return cls(name, optimize(net, input_size[1], fuse), imagenet_classes(), input_size)

    @classmethod
    def from_dir(cls, path: str | os.PathLike[str]) -> Classifier:
        """A directory written by ``resnet build`` (verified against its SHA256SUMS)."""
        from pathlib import Path

        from resnet_cli import modeldir

        description = modeldir.read_dir(Path(path))
        net = modeldir.load_network(description)
        if description.metadata.get("int8"):  # int8 graphs come fused already
            net.hybridize(static_alloc=True, static_shape=True)
        else:
            optimize(net, description.input_size[1])
        return cls(description.name, net, description.classes, description.input_size)

    def logits(self, batch: np.ndarray) -> np.ndarray:
        mx = mxnet()
        return self.net(mx.nd.array(batch, dtype="float32")).asnumpy()

    def probabilities(self, batch: np.ndarray) -> np.ndarray:
        return softmax(self.logits(batch))

    def predict(self, batch: np.ndarray, k: int) -> list[list[Prediction]]:
        return top_k(self.probabilities(batch), k, self.classes)
