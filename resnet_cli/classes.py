"""The 1000 ImageNet class names, shipped inside the package (``resnet_cli.labels``)."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from importlib import resources


@dataclass(frozen=True)
class ImageNetClass:
    index: int
    wnid: str
    label: str


@functools.lru_cache(maxsize=1)
def imagenet_classes() -> tuple[ImageNetClass, ...]:
    """Classes in model output order, read from the packaged ``imagenet1k.tsv``."""
    text = resources.files("resnet_cli.labels").joinpath("imagenet1k.tsv").read_text("utf-8")
    classes = []
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        index, wnid, name, _synonyms = line.split("\t")
        classes.append(ImageNetClass(int(index), wnid, name))
    if [c.index for c in classes] != list(range(len(classes))):
        raise RuntimeError("imagenet1k.tsv is not in model order")
    return tuple(classes)
