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
CHOICES = (*ENGINES, "auto")  # auto: the fastest, measured (resnet_cli.engines.auto)
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
                 classes: tuple[ImageNetClass, ...], preprocess: Preprocessing,
                 precision: str = "fp32") -> None:
        super().__init__(name, session, classes, preprocess)
        self.engine, self.precision = engine, precision

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


def int8_model(description: Any, engine: str) -> Path:
    """The file of ``engine``'s int8 model in a model directory, or why there is none."""
    made = description.metadata.get("onnx_int8", {}).get(engine)
    if made is None:  # read_dir checked its form and that SHA256SUMS covers its files
        raise ResnetError(f"model dir {description.path} holds no int8 model for {engine}: "
                          f"build one with 'resnet build --format onnx --int8 --calibrate "
                          f"IMAGES' with {engine} installed")
    if made["refused"]:
        raise ResnetError(f"model dir {description.path}: {engine}'s int8 model was refused "
                          f"when it was built: {made['refused']}")
    return description.path / made["files"][0]


def load(engine: str | None, model: str, weights_file: str | os.PathLike[str] | None,
         model_dir: str | os.PathLike[str] | None, progress: bool = False,
         notify: fetch.Notify = fetch.quiet, fuse: bool = True,
         precision: str | None = None, batch_size: int = 16) -> Classifier:
    """The classifier for a model directory or a model name on ``engine``.

    ``engine=None``: MXNet, unless the directory holds only ONNX (then the first ONNX
    engine installed); ``"auto"``: the fastest at ``batch_size``, measured once per machine
    and model. ``precision="int8"``: that engine's int8 model from the directory
    (with auto: only int8 candidates; None: fp32, or with auto any precision).
    """
    if engine == "auto":
        return load_auto(model, weights_file, model_dir, progress, notify, fuse, precision,
                         batch_size)
    precision = precision or "fp32"
    if model_dir is not None:
        from resnet_cli import modeldir

        description = modeldir.read_dir(Path(model_dir))
        engine = engine or default_engine(description.has("mxnet"))
        if engine == "mxnet" and precision == "int8" and not description.metadata.get("int8"):
            raise ResnetError("MXNet's int8 model is a directory of its own ('resnet build "
                              "--int8 --format mxnet'): run it with --model-dir")
        if engine == "mxnet":
            return Classifier.from_dir(model_dir)
        require(engine)
        if not description.has("onnx"):
            raise ResnetError(f"model dir {model_dir} holds no ONNX model: rebuild it with "
                              f"'resnet build --format mxnet,onnx' to run it on {engine}")
        network = (int8_model(description, engine) if precision == "int8"
                   else description.path / modeldir.ONNX)
        return RuntimeClassifier(description.name, engine, session(engine, network),
                                 description.classes, description.preprocessing, precision)
    if precision == "int8":
        raise ResnetError("int8 on an ONNX engine needs a model dir built with "
                          "'resnet build --format onnx --int8 --calibrate IMAGES'")
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


def candidates(description: Any | None) -> list[tuple[str, str]]:
    """(engine, precision) pairs that can run a model dir (or, None, a model name), MXNet
    first: the reference wins ties."""
    if description is None:
        return [("mxnet", "fp32")] + [(e, "fp32") for e in ONNX_ENGINES if installed(e)]
    found = []
    if description.has("mxnet"):
        found.append(("mxnet", "int8" if description.metadata.get("int8") else "fp32"))
    if description.has("onnx"):
        made = description.metadata.get("onnx_int8", {})
        for engine in filter(installed, ONNX_ENGINES):
            found.append((engine, "fp32"))
            if engine in made and not made[engine]["refused"]:
                found.append((engine, "int8"))
    return found


def load_auto(model: str, weights_file: str | os.PathLike[str] | None,
              model_dir: str | os.PathLike[str] | None, progress: bool,
              notify: fetch.Notify, fuse: bool, precision: str | None,
              batch_size: int) -> Classifier:
    """The fastest candidate at ``batch_size``; its ``choice`` says why."""
    from resnet_cli.engines import auto

    if model_dir is not None:
        from resnet_cli import modeldir

        description = modeldir.read_dir(Path(model_dir))
        found = candidates(description)
        identity = [description.path / modeldir.SUMS]  # covers every file of the model
    else:
        from resnet_cli import registry

        found = candidates(None)
        identity = [fetch.locate(registry.get(model).name, weights_file, progress=progress,
                                 notify=notify)]
    found = [c for c in found if precision in (None, c[1])]
    if not found:
        raise ResnetError(f"no {precision} model to choose from: build one with 'resnet "
                          f"build --format onnx --int8 --calibrate IMAGES'")

    def load_one(engine: str, chosen: str) -> Classifier:
        return load(engine, model, weights_file, model_dir, progress, notify, fuse, chosen)

    source = {"model": model, "weights_file": weights_file and str(weights_file),
              "model_dir": model_dir and str(model_dir), "fuse": fuse}
    classifier, choice = auto.choose(found, load_one, source, auto.model_sha256(identity),
                                     batch_size)
    classifier.choice = choice
    return classifier


def default_engine(has_mxnet: bool) -> str:
    if has_mxnet:
        return "mxnet"
    for engine in ONNX_ENGINES:
        if installed(engine):
            return engine
    raise ResnetError("this model directory holds only ONNX; install an engine for it: "
                      f"{INSTALL['onnxruntime']} or {INSTALL['openvino']}")
