"""Self-contained model directories: export a hybridized network, load and verify one.

Layout: ``model-symbol.json`` and ``model-0000.params`` (MXNet's export) and/or
``model.onnx`` (the same network in ONNX), ``labels.tsv``, ``metadata.json`` (architecture,
classes, input size, preprocessing, formats, versions) and ``SHA256SUMS``
(``sha256sum -c`` format) covering every other file. A directory holding only ONNX is
read and run without MXNet.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import platform
import re
import shutil
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from resnet_cli import __version__
from resnet_cli.classes import imagenet_classes
from resnet_cli.decode import DEFAULT_RESIZE, RESIZE_MODES
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
ONNX = "model.onnx"
SUMS = "SHA256SUMS"
REQUIRED = (LABELS, METADATA)
FORMATS = {"mxnet": (SYMBOL, PARAMS), "onnx": (ONNX,)}
# Each ONNX engine's own int8 model (resnet build --format onnx --int8), when it kept accuracy.
INT8_FILES = {"onnxruntime": ("model-int8.onnx",),
              "openvino": ("openvino-int8.xml", "openvino-int8.bin")}


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

    def has(self, fmt: str) -> bool:
        """Whether the directory holds the network in ``fmt`` (mxnet or onnx)."""
        return all((self.path / f).is_file() for f in FORMATS[fmt])

    @property
    def preprocessing(self) -> Preprocessing:
        """The pipeline the network was exported with."""
        return _preprocessing(self.metadata)


def _preprocessing(metadata: dict[str, Any]) -> Preprocessing:
    pre = metadata["preprocessing"]
    return Preprocessing(pre["resize"], pre["crop"], tuple(pre["mean"]), tuple(pre["std"]),
                         pre.get("resize_mode", DEFAULT_RESIZE))  # absent: built before it


def class_table(classes: int) -> tuple[ImageNetClass, ...]:
    """ImageNet names for 1000 classes; ``class_<i>`` placeholders for a new head."""
    if classes == 1000:
        return imagenet_classes()
    return tuple(ImageNetClass(i, "", f"class_{i}") for i in range(classes))


def _write_labels(path: Path, classes: tuple[ImageNetClass, ...]) -> None:
    lines = ["# index\twnid\tname"] + [f"{c.index}\t{c.wnid}\t{c.label}" for c in classes]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def export(net: Any, out: Path, *, name: str, architecture: str, classes: int,
           preprocessing: Preprocessing, int8: bool, extra: dict[str, Any] | None = None,
           formats: tuple[str, ...] = ("mxnet",), attach: dict[str, Path] | None = None
           ) -> Path:
    """Export ``net`` to ``out`` in ``formats`` with labels, metadata and checksums;
    ``attach``: further files (name: source) copied in and covered by the checksums."""
    mx = mxnet()
    out.mkdir(parents=True, exist_ok=True)
    resize, crop = preprocessing.resize, preprocessing.crop
    extra = dict(extra or {})
    if "onnx" in formats:
        from resnet_cli import onnx_export

        model = onnx_export.from_mxnet(net, crop, name)
        (out / ONNX).write_bytes(model.SerializeToString())
        extra["onnx"] = {"file": ONNX, "opset": onnx_export.OPSET, "batch": "dynamic",
                         "input": onnx_export.INPUT, "output": onnx_export.OUTPUT}
    if "mxnet" in formats:
        net.hybridize(static_alloc=True, static_shape=True)
        net(mx.nd.zeros((1, 3, crop, crop)))
        net.export(str(out / "model"), epoch=0)
    _write_labels(out / LABELS, class_table(classes))
    metadata = {
        "name": name, "architecture": architecture, "classes": classes, "int8": int8,
        "input": {"layout": "NCHW", "shape": [None, 3, crop, crop], "dtype": "float32"},
        "preprocessing": {"resize": resize, "crop": crop, "interpolation": "bilinear",
                          "scale": 1 / 255, "mean": list(preprocessing.mean),
                          "std": list(preprocessing.std),
                          "resize_mode": preprocessing.resize_mode},
        "formats": list(formats),
        "versions": {"resnet_cli": __version__, "mxnet": mx.__version__,
                     "python": platform.python_version()},
        **extra,
    }
    (out / METADATA).write_text(json.dumps(metadata, indent=2) + "\n")
    for name, source in (attach or {}).items():
        shutil.copyfile(source, out / name)
    files = [f for fmt in formats for f in FORMATS[fmt]] + list(attach or {}) + list(REQUIRED)
    sums = "".join(f"{sha256_file(out / f)}  {f}\n" for f in files)
    (out / SUMS).write_text(sums)
    return out


def verify(path: Path) -> None:
    """ResnetError naming the first problem: missing file, bad checksum, bad SHA256SUMS."""
    if not path.is_dir():
        raise ResnetError(f"model dir {path}: not a directory")
    if not (path / SUMS).is_file():
        raise ResnetError(f"model dir {path}: {SUMS} is missing (not built by resnet build?)")
    listed = _read_sums(path)
    networks = [files for files in FORMATS.values() if all(f in listed for f in files)]
    if not networks:
        raise ResnetError(f"model dir {path}: {SUMS} covers no network "
                          f"({' + '.join(FORMATS['mxnet'])}, or {ONNX})")
    for filename in [*REQUIRED, *listed]:
        if filename not in listed:
            raise ResnetError(f"model dir {path}: {SUMS} does not cover {filename}")
        if not (path / filename).is_file():
            raise ResnetError(f"model dir {path}: {filename} is missing")
        if sha256_file(path / filename) != listed[filename]:
            raise ResnetError(f"model dir {path}: {filename} does not match its SHA-256 "
                              f"(damaged or edited)")


_SUM_LINE = re.compile(r"([0-9a-fA-F]{64}) [ *](.+)")  # text and binary (sha256sum -b)


def _read_sums(path: Path) -> dict[str, str]:
    listed = {}
    for number, line in enumerate(_read_text(path, SUMS).splitlines(), 1):
        if not line.strip():
            continue
        if (match := _SUM_LINE.fullmatch(line)) is None:
            raise ResnetError(f"model dir {path}: {SUMS} line {number} is not "
                              f"'SHA256  NAME' (sha256sum format)")
        listed[match[2]] = match[1].lower()
    return listed


def _read_text(path: Path, filename: str) -> str:
    try:
        return (path / filename).read_bytes().decode("utf-8")
    except OSError as exc:
        raise ResnetError(f"model dir {path}: cannot read {filename} "
                          f"({exc.strerror or exc})") from None
    except UnicodeDecodeError as exc:
        raise ResnetError(f"model dir {path}: {filename} is not UTF-8 text (byte "
                          f"{exc.start})") from None


def read_dir(path: Path) -> ModelDir:
    """Verify a model directory as a whole and read its metadata and labels (no MXNet).

    Checksums, then every metadata field's type and range, then labels.tsv: one line
    per class, numbered in order, as many as the metadata's ``classes``.
    """
    verify(path)
    try:
        metadata = json.loads(_read_text(path, METADATA))
    except ValueError as exc:
        raise ResnetError(f"model dir {path}: {METADATA} is not JSON ({exc})") from None
    if (problem := metadata_problem(metadata)) is not None:
        raise ResnetError(f"model dir {path}: {METADATA}: {problem}")
    uncovered = set(int8_files(metadata)) - set(_read_sums(path))
    if uncovered:
        raise ResnetError(f"model dir {path}: {SUMS} does not cover {min(uncovered)}")
    classes = _parse_labels(path, _read_text(path, LABELS))
    if len(classes) != metadata["classes"]:
        raise ResnetError(f"model dir {path}: {LABELS} has {len(classes)} classes, "
                          f"{METADATA} says {metadata['classes']}")
    return ModelDir(path, metadata, classes)


MAX_CLASSES = 100_000
CROP_RANGE = (32, 2048)
MAX_RESIZE = 4096


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def int8_problem(made: Any) -> str | None:
    """What is wrong with metadata.json's ``onnx_int8`` (engine: how its int8 model went)."""
    if not isinstance(made, dict):
        return "onnx_int8 is not an object"
    for engine, entry in made.items():
        if engine not in INT8_FILES or not isinstance(entry, dict):
            return f"onnx_int8.{engine!r:.40} is not an engine's int8 report"
        refused, files = entry.get("refused"), entry.get("files")
        if not ((refused is None and files == list(INT8_FILES[engine]))
                or (isinstance(refused, str) and files is None)):
            return f"onnx_int8.{engine}: files {files!r:.60} do not match refused {refused!r:.40}"
    return None


def int8_files(metadata: dict[str, Any]) -> list[str]:
    """The int8 model files a directory's metadata says were written."""
    return [f for entry in metadata.get("onnx_int8", {}).values() for f in entry["files"] or ()]


def metadata_problem(metadata: Any) -> str | None:
    """What is wrong with a parsed metadata.json (type or range), or None."""
    if not isinstance(metadata, dict):
        return "not a JSON object"
    for key in ("name", "architecture"):
        value = metadata.get(key)
        if not (isinstance(value, str) and value and value.isprintable()):
            return f"{key} {value!r:.40} is not a non-empty printable string"
    classes = metadata.get("classes")
    if not (_is_int(classes) and 1 <= classes <= MAX_CLASSES):
        return f"classes {classes!r:.40} is not an integer from 1 to {MAX_CLASSES}"
    if not isinstance(metadata.get("int8", False), bool):
        return "int8 is not true or false"
    if (problem := int8_problem(metadata.get("onnx_int8", {}))) is not None:
        return problem
    pre = metadata.get("preprocessing")
    if not isinstance(pre, dict):
        return "preprocessing is missing or not an object"
    crop, resize = pre.get("crop"), pre.get("resize")
    low, high = CROP_RANGE
    if not (_is_int(crop) and low <= crop <= high):
        return f"preprocessing.crop {crop!r:.40} is not an integer from {low} to {high}"
    if not (_is_int(resize) and crop <= resize <= MAX_RESIZE):
        return (f"preprocessing.resize {resize!r:.40} is not an integer from the crop "
                f"({crop}) to {MAX_RESIZE}")
    for key in ("mean", "std"):
        value = pre.get(key)
        if not (isinstance(value, list) and len(value) == 3
                and all(isinstance(v, int | float) and not isinstance(v, bool)
                        and math.isfinite(v) for v in value)
                and (key == "mean" or min(value) > 0)):
            return f"preprocessing.{key} {value!r:.40} is not three finite numbers"
    if pre.get("resize_mode", DEFAULT_RESIZE) not in RESIZE_MODES:
        return (f"preprocessing.resize_mode {pre['resize_mode']!r:.40} is not one of "
                f"{', '.join(RESIZE_MODES)}")
    return None


def _parse_labels(path: Path, text: str) -> tuple[ImageNetClass, ...]:
    rows: list[ImageNetClass] = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line or line.startswith("#"):
            continue
        fields = line.split("\t")
        if len(fields) < 3 or fields[0] != str(len(rows)):
            raise ResnetError(f"model dir {path}: {LABELS} line {number} is not "
                              f"'{len(rows)}<TAB>WNID<TAB>NAME'")
        rows.append(ImageNetClass(len(rows), fields[1], fields[2]))
    return tuple(rows)


def check_graph(model_dir: ModelDir, symbol: Any) -> None:
    """The graph must map one crop x crop image to exactly ``classes`` scores."""
    mx = mxnet()
    crop, classes = model_dir.input_size[1], model_dir.metadata["classes"]
    try:
        with contextlib.redirect_stdout(io.StringIO()):  # MXNet prints its arguments
            _, shapes, _ = symbol.infer_shape(data=(1, 3, crop, crop))
    except mx.base.MXNetError as exc:
        raise ResnetError(f"model dir {model_dir.path}: the graph does not take a {crop}x"
                          f"{crop} image ({mxnet_reason(exc)})") from None
    if shapes != [(1, classes)]:
        got = " and ".join("x".join(map(str, s[1:])) for s in shapes) or "no"
        raise ResnetError(f"model dir {model_dir.path}: the graph outputs {got} scores per "
                          f"image, {LABELS} and {METADATA} have {classes} classes")


def load_symbol(model_dir: ModelDir) -> Any:
    """The graph of ``model-symbol.json``, checked against the metadata."""
    if not model_dir.has("mxnet"):
        raise ResnetError(f"model dir {model_dir.path} holds only ONNX: run it with --engine "
                          f"onnxruntime or openvino")
    mx = mxnet()
    try:
        symbol = mx.sym.load(str(model_dir.path / SYMBOL))
    except (mx.base.MXNetError, ValueError) as exc:
        raise ResnetError(f"model dir {model_dir.path}: cannot read {SYMBOL} "
                          f"({mxnet_reason(exc)})") from None
    check_graph(model_dir, symbol)
    return symbol


def load_network(model_dir: ModelDir) -> Any:
    """The exported network as a SymbolBlock (not yet hybridized)."""
    mx = mxnet()
    path = model_dir.path
    load_symbol(model_dir)
    try:
        with warnings.catch_warnings():  # "Cannot decide type for data": harmless, noisy
            warnings.simplefilter("ignore", UserWarning)
            return mx.gluon.SymbolBlock.imports(str(path / SYMBOL), ["data"],
                                                str(path / PARAMS), ctx=mx.cpu())
    except (mx.base.MXNetError, ValueError, AssertionError) as exc:
        raise ResnetError(f"model dir {path}: cannot load the network "
                          f"({mxnet_reason(exc)})") from None
