"""A network with its weights and its own preprocessing: images in, top-k classes out."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from PIL import Image

from resnet_cli import params, registry
from resnet_cli.classes import imagenet_classes
from resnet_cli.decode import CLOSE_CALL
from resnet_cli.preprocess import Decoded, Preprocessing, to_rgb
from resnet_cli.records import ImageNetClass, Prediction
from resnet_cli.runtime import mxnet, optimize
from resnet_cli.weights import fetch

# What ``predict`` accepts per image: a file, a decoded image, an HxWx3 uint8 array or a
# tensor already preprocessed for this classifier (3 x crop x crop float32).
ImageLike = str | os.PathLike | Image.Image | np.ndarray
# Runs exact re-decoders (see Decoded) and returns their tensors, None where one failed.
ExactDecodes = Callable[[list[Callable[[], np.ndarray]]], list[np.ndarray | None]]


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax in float64, so small probabilities keep their digits."""
    z = logits.astype(np.float64)
    z -= z.max(axis=1, keepdims=True)
    np.exp(z, out=z)
    z /= z.sum(axis=1, keepdims=True)
    return z


def exact_or_none(decoder: Callable[[], np.ndarray]) -> np.ndarray | None:
    """An exact re-decode, or None when the full-size decode fails: the fast result then
    stands (None rather than the exception, which would keep the decode's frames alive)."""
    try:
        return decoder()
    except Exception:
        return None


def _exact_here(decoders: list[Callable[[], np.ndarray]]) -> list[np.ndarray | None]:
    return [exact_or_none(decoder) for decoder in decoders]


def close_calls(rows: list[list[Prediction]], decoded: Sequence[Decoded]) -> list[int]:
    """The rows ``fast`` settles: shrunk decodes whose top two classes are close."""
    return [i for i, (row, item) in enumerate(zip(rows, decoded, strict=True))
            if item.exact is not None and len(row) > 1
            and row[0].probability - row[1].probability < CLOSE_CALL]


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
    """A hybridized network, its class names and the preprocessing its inputs need."""

    engine = "mxnet"  # what runs the network (resnet_cli.engines)
    precision = "fp32"
    choice: Any = None  # with --engine auto: the measured choice (engines.auto.Choice)

    def __init__(self, name: str, net: Any, classes: tuple[ImageNetClass, ...],
                 preprocess: Preprocessing) -> None:
        self.name = name
        self.net = net
        self.classes = classes
        self.preprocess = preprocess

    @property
    def input_size(self) -> tuple[int, int]:
        """(resize shorter side, center crop)."""
        return self.preprocess.resize, self.preprocess.crop

    @classmethod
    def load(cls, model: str, weights_file: str | os.PathLike[str] | None = None,
             progress: bool = False, notify: fetch.Notify = fetch.quiet,
             fuse: bool = True) -> Classifier:
        """Build ``model``, load its weights (fetching them if needed) and optimize it.

        ``fuse=False`` keeps the plain hybridized graph (the reference path).
        """
        spec = registry.get(model)
        path = fetch.locate(spec.name, weights_file, progress=progress, notify=notify)
        net = spec.build(classes=1000)
        with fetch.loadable(spec.name, path) as gluon:  # a .pth/.safetensors converted
            params.load_into(net, gluon)
        return cls(spec.name, optimize(net, spec.crop, fuse), imagenet_classes(),
                   Preprocessing.of(spec))

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
        classifier = cls(description.name, net, description.classes,
                         description.preprocessing)
        if description.metadata.get("int8"):
            classifier.precision = "int8"
        return classifier

    def logits(self, batch: np.ndarray) -> np.ndarray:
        mx = mxnet()
        return self.net(mx.nd.array(batch, dtype="float32")).asnumpy()

    def probabilities(self, batch: np.ndarray) -> np.ndarray:
        return softmax(self.logits(batch))

    def predict_batch(self, batch: np.ndarray, k: int) -> list[list[Prediction]]:
        """Top-k of each preprocessed tensor in an (N, 3, crop, crop) batch."""
        return top_k(self.probabilities(batch), k, self.classes)

    def predict_decoded(self, decoded: Sequence[Decoded], k: int,
                        exact: ExactDecodes = _exact_here) -> list[list[Prediction]]:
        """Top-k of each input; close calls of shrunk decodes come from their exact decode
        (run by ``exact``), so ``fast`` agrees with ``exact`` where it matters."""
        rows = self.predict_batch(np.stack([item.tensor for item in decoded]), max(k, 2))
        close = close_calls(rows, decoded)
        if close:
            tensors = exact([decoded[i].exact for i in close])
            settled = [(i, t) for i, t in zip(close, tensors, strict=True) if t is not None]
            if settled:
                again = self.predict_batch(np.stack([t for _, t in settled]), k)
                for (i, _), row in zip(settled, again, strict=True):
                    rows[i] = row
        return [row[:k] for row in rows]

    def decode(self, image: ImageLike) -> Decoded:
        """One input as this classifier's (3, crop, crop) tensor; InputError if unreadable."""
        if isinstance(image, np.ndarray):
            if image.ndim == 3 and image.shape[0] == 3 and image.dtype == np.float32:
                return Decoded(image)  # already preprocessed
            image = Image.fromarray(image)
        if isinstance(image, Image.Image):
            return Decoded(self.preprocess.image(to_rgb(image)))
        return self.preprocess.decode(image)

    def predict(self, images: Sequence[ImageLike] | np.ndarray, k: int = 5
                ) -> list[list[Prediction]]:
        """Top-k classes of each image (paths, PIL images or arrays; see ``ImageLike``).

        An (N, 3, crop, crop) float32 array is taken as a batch of preprocessed tensors.
        """
        if isinstance(images, np.ndarray) and images.ndim == 4:
            return self.predict_batch(images, k)
        if not len(images):
            return []
        return self.predict_decoded([self.decode(image) for image in images], k)
