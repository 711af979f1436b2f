"""Self-contained model directories: export a hybridized network, load and verify one.

Layout: ``model-symbol.json`` and ``model-0000.params`` (MXNet's export), ``labels.tsv``,
``metadata.json`` (architecture, classes, input size, preprocessing, versions) and
``SHA256SUMS`` (``sha256sum -c`` format) covering every other file.
"""

from __future__ import annotations

import json
import platform
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from resnet_cli import __version__
from resnet_cli.classes import imagenet_classes
from resnet_cli.errors import ResnetError
from resnet_cli.params import mxnet_reason
from resnet_cli.preprocess import Preprocessing
from resnet_cli.records import ImageNetClass
from resnet_cli.runtime import mxnet
from resnet_cli.weights.cache import sha256_file

SYMBOL = "model-symbol.json"
PARAMS = "model-0000.params"
LABELS = "labels.tsv"
METADATA = "metadata.json"
SUMS = "SHA256SUMS"
REQUIRED = (SYMBOL, PARAMS, LABELS, METADATA)


@dataclass(frozen=True)
class ModelDir:
    path: Path
    metadata: dict[str, Any]
    classes: tuple[ImageNetClass, ...]

    @property
    def name(self) -> str:
        return self.metadata["name"]

    @property
    def input_size(self) -> tuple[int, int]:
        pre = self.metadata["preprocessing"]
        return pre["resize"], pre["crop"]

    @property
    def preprocessing(self) -> Preprocessing:
        """The pipeline the network was exported with."""
        return _preprocessing(self.metadata)


def _preprocessing(metadata: dict[str, Any]) -> Preprocessing:
    pre = metadata["preprocessing"]
    return Preprocessing(pre["resize"], pre["crop"], tuple(pre["mean"]), tuple(pre["std"]))


def class_table(classes: int) -> tuple[ImageNetClass, ...]:
    """ImageNet names for 1000 classes; ``class_<i>`` placeholders for a new head."""
    if classes == 1000:
        return imagenet_classes()
    return tuple(ImageNetClass(i, "", f"class_{i}") for i in range(classes))


def _write_labels(path: Path, classes: tuple[ImageNetClass, ...]) -> None:
    lines = ["# index\twnid\tname"] + [f"{c.index}\t{c.wnid}\t{c.label}" for c in classes]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def _read_labels(path: Path) -> tuple[ImageNetClass, ...]:
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line and not line.startswith("#"):
            index, wnid, label = line.split("\t")[:3]
            rows.append(ImageNetClass(int(index), wnid, label))
    return tuple(rows)


def export(net: Any, out: Path, *, name: str, architecture: str, classes: int,
           preprocessing: Preprocessing, int8: bool, extra: dict[str, Any] | None = None
           ) -> Path:
    """Hybridize ``net``, export it to ``out`` with labels, metadata and checksums."""
    mx = mxnet()
    out.mkdir(parents=True, exist_ok=True)
    resize, crop = preprocessing.resize, preprocessing.crop
    net.hybridize(static_alloc=True, static_shape=True)
    net(mx.nd.zeros((1, 3, crop, crop)))
    net.export(str(out / "model"), epoch=0)
    _write_labels(out / LABELS, class_table(classes))
    metadata = {
        "name": name, "architecture": architecture, "classes": classes, "int8": int8,
        "input": {"layout": "NCHW", "shape": [None, 3, crop, crop], "dtype": "float32"},
        "preprocessing": {"resize": resize, "crop": crop, "interpolation": "bilinear",
                          "scale": 1 / 255, "mean": list(preprocessing.mean),
                          "std": list(preprocessing.std)},
        "versions": {"resnet_cli": __version__, "mxnet": mx.__version__,
                     "python": platform.python_version()},
        **(extra or {}),
    }
    (out / METADATA).write_text(json.dumps(metadata, indent=2) + "\n")
    sums = "".join(f"{sha256_file(out / f)}  {f}\n" for f in REQUIRED)
    (out / SUMS).write_text(sums)
    return out


def verify(path: Path) -> None:
    """ResnetError naming the first problem: missing file, bad checksum, bad metadata."""
    if not path.is_dir():
        raise ResnetError(f"model dir {path}: not a directory")
    if not (path / SUMS).is_file():
        raise ResnetError(f"model dir {path}: {SUMS} is missing (not built by resnet build?)")
    listed = {}
    for line in (path / SUMS).read_text().splitlines():
        digest, _, filename = line.partition("  ")
        listed[filename] = digest
    for filename in REQUIRED:
        if filename not in listed:
            raise ResnetError(f"model dir {path}: {SUMS} does not cover {filename}")
        if not (path / filename).is_file():
            raise ResnetError(f"model dir {path}: {filename} is missing")
        if sha256_file(path / filename) != listed[filename]:
            raise ResnetError(f"model dir {path}: {filename} does not match its SHA-256 "
                              f"(damaged or edited)")


def read_dir(path: Path) -> ModelDir:
    """Verify a model directory and read its metadata and labels (no MXNet needed)."""
    verify(path)
    try:
        metadata = json.loads((path / METADATA).read_text())
        _preprocessing(metadata)  # every field it needs is there
        classes = _read_labels(path / LABELS)
    except (ValueError, KeyError, TypeError) as exc:
        raise ResnetError(f"model dir {path}: bad metadata or labels ({exc})") from None
    return ModelDir(path, metadata, classes)


def load_network(model_dir: ModelDir) -> Any:
    """The exported network as a SymbolBlock (not yet hybridized)."""
    mx = mxnet()
    path = model_dir.path
    try:
        with warnings.catch_warnings():  # "Cannot decide type for data": harmless, noisy
            warnings.simplefilter("ignore", UserWarning)
            return mx.gluon.SymbolBlock.imports(str(path / SYMBOL), ["data"],
                                                str(path / PARAMS), ctx=mx.cpu())
    except (mx.base.MXNetError, ValueError, AssertionError) as exc:
        raise ResnetError(f"model dir {path}: cannot load the network "
                          f"({mxnet_reason(exc)})") from None
