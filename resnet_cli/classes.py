"""The 1000 ImageNet class names, read from ``labels/imagenet1k.tsv``.

The top-level ``labels/`` folder is installed as the package ``resnet_cli.labels``
(pyproject's package-dir), in a wheel and in an editable checkout alike, so one lookup
through ``importlib.resources`` finds it in both.
"""

from __future__ import annotations

import functools
from importlib import resources

from resnet_cli.records import ImageNetClass

LABELS_PACKAGE = "resnet_cli.labels"
LABELS_FILE = "imagenet1k.tsv"


@functools.lru_cache(maxsize=1)
def imagenet_classes() -> tuple[ImageNetClass, ...]:
    """Classes in model output order."""
    text = resources.files(LABELS_PACKAGE).joinpath(LABELS_FILE).read_text("utf-8")
    classes = []
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        index, wnid, name, _synonyms = line.split("\t")
        classes.append(ImageNetClass(int(index), wnid, name))
    if [c.index for c in classes] != list(range(len(classes))):
        raise RuntimeError(f"{LABELS_FILE} is not in model order")
    return tuple(classes)
