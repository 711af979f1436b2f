"""Which engine runs the network: MXNet (the default), ONNX Runtime or OpenVINO.

ONNX Runtime and OpenVINO are optional extras; they run the ONNX model that ``resnet build
--format onnx`` writes (or one converted in memory from a model name). A model directory
holding only ONNX is loaded without importing MXNet.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from typing import Any

import numpy as np

from resnet_cli.classifier import Classifier
from resnet_cli.errors import ResnetError
from resnet_cli.preprocess import Preprocessing
from resnet_cli.records import ImageNetClass
from resnet_cli.weights import fetch

ENGINES = ("mxnet", "onnxruntime", "openvino")
ONNX_ENGINES = ENGINES[1:]
INSTALL = {name: f"pip install 'resnet-cli[{name}]'" for name in ONNX_ENGINES}


def installed(engine: str) -> bool:
    """Whether ``engine``'s package is importable (without importing it)."""
    return engine == "mxnet" or importlib.util.find_spec(engine) is not None


def require(engine: str) -> None:
    if engine not in ENGINES:
        raise ResnetError(f"unknown engine {engine!r}; choose one of {', '.join(ENGINES)}")
    if not installed(engine):
        raise ResnetError(f"engine {engine} is not installed: {INSTALL[engine]}")


class RuntimeClassifier(Classifier):
    """A classifier whose logits come from an ONNX engine instead of MXNet."""

    def __init__(self, name: str, engine: str, session: Any,
                 classes: tuple[ImageNetClass, ...], preprocess: Preprocessing) -> None:
        super().__init__(name, session, classes, preprocess)
        self.engine = engine

    def logits(self, batch: np.ndarray) -> np.ndarray:
        return self.net(np.ascontiguousarray(batch, dtype=np.float32))


def session(engine: str, model: Path | bytes) -> Any:
    """A callable NCHW float32 -> logits running ``model`` (ONNX file or bytes)."""
    require(engine)
    if engine == "onnxruntime":
        from resnet_cli.engines import ort

        return ort.session(model)
    from resnet_cli.engines import ov

    return ov.session(model)


def onnx_from_weights(model: str, weights_file: str | os.PathLike[str] | None,
                      progress: bool, notify: fetch.Notify) -> bytes:
    """Build ``model`` in MXNet with its weights and convert it to ONNX in memory."""
    from resnet_cli import onnx_export, params, registry

    spec = registry.get(model)
    net = spec.build(classes=1000)
    params.load_into(net, fetch.locate(spec.name, weights_file, progress=progress,
                                       notify=notify))
    return onnx_export.from_mxnet(net, spec.crop, spec.name).SerializeToString()


def load(engine: str | None, model: str, weights_file: str | os.PathLike[str] | None,
         model_dir: str | os.PathLike[str] | None, progress: bool = False,
         notify: fetch.Notify = fetch.quiet, fuse: bool = True) -> Classifier:
    """The classifier for a model directory or a model name on ``engine``.

    ``engine=None``: MXNet, unless the directory holds only ONNX (then the first ONNX
    engine installed).
    """
    if model_dir is not None:
        from resnet_cli import modeldir

        description = modeldir.read_dir(Path(model_dir))
        engine = engine or default_engine(description.has("mxnet"))
        if engine == "mxnet":
            return Classifier.from_dir(model_dir)
        require(engine)
        if not description.has("onnx"):
            raise ResnetError(f"model dir {model_dir} holds no ONNX model: rebuild it with "
                              f"'resnet build --format mxnet,onnx' to run it on {engine}")
        return RuntimeClassifier(description.name, engine,
                                 session(engine, description.path / modeldir.ONNX),
                                 description.classes, description.preprocessing)
    engine = engine or "mxnet"
    if engine == "mxnet":
        return Classifier.load(model, weights_file, progress=progress, notify=notify,
                               fuse=fuse)
    require(engine)
    from resnet_cli import registry
    from resnet_cli.classes import imagenet_classes

    spec = registry.get(model)
    onnx_bytes = onnx_from_weights(model, weights_file, progress, notify)
    return RuntimeClassifier(spec.name, engine, session(engine, onnx_bytes),
                             imagenet_classes(), Preprocessing.of(spec))


def default_engine(has_mxnet: bool) -> str:
    if has_mxnet:
        return "mxnet"
    for engine in ONNX_ENGINES:
        if installed(engine):
            return engine
    raise ResnetError("this model directory holds only ONNX; install an engine for it: "
                      f"{INSTALL['onnxruntime']} or {INSTALL['openvino']}")
