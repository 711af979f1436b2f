"""``resnet build``: assemble a network, load weights, optionally quantize to int8, export.

With a classifier size other than 1000, every parameter whose name and shape match the
1000-class weights is loaded and the rest (the classifier) is freshly initialised.
int8 uses MXNet's oneDNN (MKLDNN) quantization with entropy calibration on real images, and
is refused, as the ONNX engines' int8 is, when it loses more than a point of top-1.
"""

from __future__ import annotations

import contextlib
import json
import tempfile
import warnings
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from resnet_cli import inputs, modeldir, params, registry
from resnet_cli.decode import DEFAULT_RESIZE, ResizeMode
from resnet_cli.errors import InputError, ResnetError
from resnet_cli.preprocess import Preprocessing
from resnet_cli.runtime import mxnet
from resnet_cli.weights.fetch import loadable

# How ``resnet build --int8`` quantizes; benchmarks/int8_sensitivity.py uses the same.
QUANTIZATION = {"quantized_dtype": "auto", "quantize_granularity": "channel-wise"}
CALIBRATION_BATCH = 50  # 25: 94.9%, 50: 96.2%, 100: 95.7% top-1 agreement (SqueezeNet)


def build_network(model: str, classes: int, weights_path: Path | None
                  ) -> tuple[Any, list[str]]:
    """The initialized network and the names of parameters left freshly initialised."""
    mx = mxnet()
    spec = registry.get(model)
    build, crop = spec.build, spec.crop
    if weights_path is not None and classes == 1000:
        net = build(classes=1000)
        params.load_into(net, weights_path)
        return net, []
    net = build(classes=classes)
    net.initialize(mx.init.Xavier())
    net(mx.nd.zeros((1, 3, crop, crop)))  # materialize deferred shapes
    if weights_path is None:
        return net, sorted(net._collect_params_with_prefix())
    source = build(classes=1000)
    params.load_into(source, weights_path)
    loaded = source._collect_params_with_prefix()
    fresh = []
    for name, param in net._collect_params_with_prefix().items():
        if name in loaded and loaded[name].shape == param.shape:
            param.set_data(loaded[name].data())
        else:
            fresh.append(name)
    return net, fresh


def calibration_tensors(images: Path, preprocess: Preprocessing, limit: int,
                        warn: Callable[[str], None]) -> tuple[np.ndarray, list[str]]:
    """Up to ``limit`` preprocessed images from a folder and their paths; unreadable ones
    are skipped."""
    tensors, used = [], []
    for source in inputs.expand([str(images)]):
        if len(tensors) >= limit:
            break
        try:
            if source.error:
                raise InputError(source.error)
            tensors.append(preprocess(source.path))
            used.append(str(source.path))
        except InputError as exc:
            warn(f"calibration: skipping {source.path}: {exc}")
    if not tensors:
        raise ResnetError(f"no readable images to calibrate with in {images}")
    return np.stack(tensors), used


def true_classes(paths: list[str], classes: int) -> np.ndarray:
    """Each calibration image's ImageNet class from its name or folder (-1: unknown), so
    int8 accuracy can be checked against fp32's."""
    from resnet_cli.evaluation import Labeller

    if classes != 1000:
        return np.full(len(paths), -1)
    label = Labeller(modeldir.class_table(classes))
    return np.array([-1 if (c := label(p)) is None else c for p in paths])


def onnx_int8(net: Any, model: str, crop: int, tensors: np.ndarray, check: np.ndarray,
              labels: np.ndarray, folder: Path) -> list[Any]:
    """Each installed ONNX engine's own int8 model of ``net`` in ``folder``; refused ones
    are reported, not written."""
    from resnet_cli import onnx_export
    from resnet_cli.engines import int8

    engines = [e for e in int8.FILES if int8.available(e)]
    if not engines:
        raise ResnetError("int8 for the ONNX engines needs one of them: "
                          f"{int8.INSTALL['onnxruntime']} or {int8.INSTALL['openvino']}")
    fp32 = folder / "fp32.onnx"
    fp32.write_bytes(onnx_export.from_mxnet(net, crop, model).SerializeToString())
    return [int8.quantize(e, fp32, folder, tensors, check, labels) for e in engines]


def classifier_head(net: Any) -> list[str]:
    """The final pooling layer and every layer after it (flatten, dense), by their names
    in the graph oneDNN quantizes: kept fp32, since int8 class scores reorder near-ties
    (top-1 agreement with fp32 rose from 90% to 96% on SqueezeNet with its final pool
    kept) and a quantized flatten would cap SqueezeNet's logits at the calibration
    threshold in 255 steps."""
    mx = mxnet()
    fused = net(mx.sym.var("data")).get_backend_symbol("MKLDNN_QUANTIZE")
    layers = [node for node in json.loads(fused.tojson())["nodes"] if node["op"] != "null"]
    last_pool = max(i for i, node in enumerate(layers) if node["op"] == "Pooling")
    return [node["name"] for node in layers[last_pool:]]


def quantize(net: Any, calibration: np.ndarray) -> Any:
    """An int8 SymbolBlock, thresholds from the entropy of real activations."""
    mx = mxnet()
    try:
        import scipy.stats  # noqa: F401 - MXNet's entropy calibration needs it
    except ImportError:
        raise ResnetError("int8 calibration needs scipy: pip install 'resnet-cli[int8]'") from None
    from mxnet.contrib import quantization

    data = mx.io.NDArrayIter(data=mx.nd.array(calibration), batch_size=CALIBRATION_BATCH,
                             data_name="data")
    with warnings.catch_warnings():  # MXNet's "Cannot decide type for data": noise
        warnings.simplefilter("ignore", UserWarning)
        return quantization.quantize_net_v2(
            net, **QUANTIZATION, calib_data=data, calib_mode="entropy",
            num_calib_examples=len(calibration), exclude_layers=classifier_head(net),
            ctx=mx.cpu())


def mxnet_int8(net: Any, tensors: np.ndarray, check: np.ndarray, labels: np.ndarray
               ) -> tuple[Any, dict[str, Any]]:
    """MXNet's int8 network calibrated on ``tensors`` and what it was judged on; refused,
    as the ONNX engines' int8 models are, when its top-1 accuracy on the ``check`` images
    (true classes ``labels``, -1: unknown) is more than a point below fp32's, or when
    none of them is labelled."""
    from resnet_cli.engines import int8

    reference = logits(net, check)
    quantized = quantize(net, tensors)
    verdict = int8.judge("mxnet", reference, logits(quantized, check), labels)
    if verdict.refused:
        raise ResnetError(f"MXNet's int8 model is refused, nothing was written: "
                          f"{verdict.refused}")
    return quantized, {"images": len(tensors), "mode": "entropy",
                       "checked_on": verdict.images, "top1_agreement": verdict.agreement,
                       "top1_accuracy": verdict.accuracy,
                       "fp32_top1_accuracy": verdict.fp32_accuracy}


def logits(net: Any, tensors: np.ndarray, batch: int = 50) -> np.ndarray:
    mx = mxnet()
    return np.concatenate([net(mx.nd.array(tensors[i:i + batch])).asnumpy()
                           for i in range(0, len(tensors), batch)])


def check_out(out: Path, force: bool) -> None:
    """Refuse to write into a directory that holds files, unless told to (``--force``)."""
    if out.exists() and not force and (not out.is_dir() or any(out.iterdir())):
        raise ResnetError(f"{out} already exists and is not empty: pass --force to "
                          f"overwrite it, or choose another --out")


@dataclass(frozen=True)
class BuildResult:
    path: Path
    fresh: list[str]  # parameters not taken from the weights
    calibration: dict[str, Any] | None = None  # MXNet int8: metadata's "calibration"
    engines_int8: tuple[Any, ...] = ()  # engines.int8.Int8Result per ONNX engine


def build_dir(model: str, classes: int, weights_path: Path | None, out: Path,
              calibrate: Path | None, calibration_images: int,
              warn: Callable[[str], None], resize_mode: ResizeMode = DEFAULT_RESIZE,
              formats: tuple[str, ...] = ("mxnet",), validate: Path | None = None
              ) -> BuildResult:
    """Build, optionally quantize (when ``calibrate`` names an image folder), export.

    int8 with ``--format mxnet`` is MXNet's int8 graph, refused (an error, nothing
    written) unless it keeps accuracy on the ``validate`` images (default: the calibration
    images); with ``--format onnx`` the fp32 ONNX model plus each installed engine's own
    int8 model that keeps it.
    """
    if calibrate is not None and formats not in (("mxnet",), ("onnx",)):
        raise ResnetError("--int8 quantizes one format: --format mxnet (MXNet's int8 graph) "
                          "or --format onnx (each ONNX engine's own int8 model)")
    with contextlib.ExitStack() as stack:  # a .pth/.safetensors is converted, then removed
        gluon = stack.enter_context(loadable(model, weights_path)) if weights_path else None
        net, fresh = build_network(model, classes, gluon)
        preprocessing = replace(Preprocessing.of(registry.get(model)), resize_mode=resize_mode)
        extra: dict[str, Any] = {"weights": str(weights_path) if weights_path else None}
        results, attach = [], {}
        if calibrate is not None:
            tensors, used = calibration_tensors(calibrate, preprocessing, calibration_images,
                                                warn)
            check, checked = (calibration_tensors(validate, preprocessing, calibration_images,
                                                  warn) if validate else (tensors, used))
            labels = true_classes(checked, classes)
        if calibrate is not None and formats == ("onnx",):
            folder = Path(stack.enter_context(tempfile.TemporaryDirectory()))
            results = onnx_int8(net, model, preprocessing.crop, tensors, check, labels, folder)
            extra["onnx_int8"] = {r.engine: r.as_dict() for r in results}
            attach = {name: folder / name for r in results if not r.refused
                      for name in r.files}
        elif calibrate is not None:
            net, extra["calibration"] = mxnet_int8(net, tensors, check, labels)
        int8 = calibrate is not None and formats == ("mxnet",)
        path = modeldir.export(net, out, name=model + ("-int8" if int8 else ""),
                               architecture=model, classes=classes,
                               preprocessing=preprocessing, int8=int8, extra=extra,
                               formats=formats, attach=attach)
    return BuildResult(path, fresh, extra.get("calibration"), tuple(results))
