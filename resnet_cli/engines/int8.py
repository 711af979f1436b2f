"""int8 models for the ONNX engines, each made by that engine's own tool from the same
calibration images, and shipped only when accuracy holds.

ONNX Runtime: static QDQ quantization, per-channel int8 weights, uint8 activations.
OpenVINO: NNCF post-training quantization of the ONNX model, saved as OpenVINO IR.
Either model is refused (not written) when its top-1 accuracy on the labelled images it is
checked on (``--validate``, else the calibration images) is more than ``MAX_DROP`` below
fp32's, or when none of them is labelled.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from resnet_cli import modeldir
from resnet_cli.errors import ResnetError

MAX_DROP = 0.01  # one point of top-1 accuracy
FILES = modeldir.INT8_FILES
TOOLS = {"onnxruntime": "onnxruntime.quantization", "openvino": "nncf",
         "mxnet": "mxnet.contrib.quantization"}  # build --int8 --format mxnet (build.py)
INSTALL = {"onnxruntime": "pip install 'resnet-cli[onnxruntime]'",
           "openvino": "pip install 'resnet-cli[openvino]'"}
BATCH = 50


@dataclass(frozen=True)
class Int8Result:
    """How one engine's int8 model compares with fp32 on the calibration images."""

    engine: str
    images: int
    agreement: float  # same top-1 as fp32
    accuracy: float | None  # top-1 on the labelled images
    fp32_accuracy: float | None
    refused: str | None = None  # why it was not shipped

    @property
    def files(self) -> tuple[str, ...]:
        return FILES[self.engine]

    def as_dict(self) -> dict[str, object]:
        return {"images": self.images, "top1_agreement": self.agreement,
                "top1_accuracy": self.accuracy, "fp32_top1_accuracy": self.fp32_accuracy,
                "files": None if self.refused else list(self.files),
                "refused": self.refused}

    def text(self) -> str:
        """One line for ``resnet build``: what was measured and whether it shipped."""
        accuracy = ("" if self.accuracy is None else
                    f", top-1 {100 * self.accuracy:.1f}% (fp32 {100 * self.fp32_accuracy:.1f}%)")
        verdict = f"REFUSED: {self.refused}" if self.refused else "written"
        return (f"{self.engine} int8 ({TOOLS[self.engine]}): top-1 agreement with fp32 "
                f"{100 * self.agreement:.1f}%{accuracy} on {self.images} images; "
                f"{verdict}")


def available(engine: str) -> bool:
    spec = TOOLS[engine].split(".")[0]
    return importlib.util.find_spec(spec) is not None


def judge(engine: str, fp32: np.ndarray, int8: np.ndarray, labels: np.ndarray
          ) -> Int8Result:
    """Agreement and accuracy of int8 logits against fp32, and whether to refuse them."""
    agreement = float((fp32.argmax(1) == int8.argmax(1)).mean())
    known = labels >= 0
    if not known.any():
        return Int8Result(engine, len(labels), agreement, None, None,
                          "no image it was checked on is labelled (WordNet id or class in "
                          "the file or folder name), so its accuracy cannot be checked")
    count = int(known.sum())
    hits = int((int8.argmax(1)[known] == labels[known]).sum())
    fp32_hits = int((fp32.argmax(1)[known] == labels[known]).sum())
    accuracy, fp32_accuracy = hits / count, fp32_hits / count
    refused = None
    if fp32_hits - hits > MAX_DROP * count + 1e-9:  # in counts: 63% - 62% is one point
        refused = (f"top-1 accuracy {100 * accuracy:.1f}% vs fp32 {100 * fp32_accuracy:.1f}% "
                   f"on {count} labelled images: more than "
                   f"{100 * MAX_DROP:.0f} point lost")
    return Int8Result(engine, len(labels), agreement, accuracy, fp32_accuracy, refused)


def head_nodes(model_path: Path) -> list[str]:
    """The last pooling node and everything after it: kept fp32, as MXNet's int8 does
    (quantized class scores reorder near-ties)."""
    import onnx

    nodes = onnx.load(str(model_path), load_external_data=False).graph.node
    pools = [i for i, n in enumerate(nodes) if "Pool" in n.op_type]
    return [n.name for n in nodes[pools[-1]:]] if pools else []


def quantize_onnxruntime(fp32: Path, out: Path, calibration: np.ndarray) -> None:
    from onnxruntime import quantization as q

    class Reader(q.CalibrationDataReader):
        def __init__(self) -> None:
            self.batches = iter(range(0, len(calibration), BATCH))

        def get_next(self) -> dict[str, np.ndarray] | None:
            start = next(self.batches, None)
            return None if start is None else {"data": calibration[start:start + BATCH]}

    q.quantize_static(str(fp32), str(out), Reader(), quant_format=q.QuantFormat.QDQ,
                      per_channel=True, activation_type=q.QuantType.QUInt8,
                      weight_type=q.QuantType.QInt8,
                      calibrate_method=q.CalibrationMethod.MinMax,
                      nodes_to_exclude=head_nodes(fp32))


def quantize_openvino(fp32: Path, out: Path, calibration: np.ndarray) -> None:
    import nncf
    import openvino

    model = openvino.Core().read_model(str(fp32))
    dataset = nncf.Dataset([calibration[i:i + 1] for i in range(len(calibration))])
    quantized = nncf.quantize(model, dataset, subset_size=len(calibration),
                              ignored_scope=nncf.IgnoredScope(names=head_nodes(fp32),
                                                              validate=False))
    openvino.save_model(quantized, str(out))


def quantize(engine: str, fp32: Path, out_dir: Path, calibration: np.ndarray,
             check: np.ndarray, labels: np.ndarray) -> Int8Result:
    """Write ``engine``'s int8 model beside ``fp32`` if it keeps accuracy on the ``check``
    images (true classes ``labels``, -1: unknown); else remove it."""
    from resnet_cli import engines

    if not available(engine):
        raise ResnetError(f"int8 for {engine} needs {TOOLS[engine]}: {INSTALL[engine]}")
    target = out_dir / FILES[engine][0]
    (quantize_onnxruntime if engine == "onnxruntime" else quantize_openvino)(
        fp32, target, calibration)
    reference, candidate = engines.session(engine, fp32), engines.session(engine, target)
    batches = range(0, len(check), BATCH)
    result = judge(engine,
                   np.concatenate([reference(check[i:i + BATCH]) for i in batches]),
                   np.concatenate([candidate(check[i:i + BATCH]) for i in batches]),
                   labels)
    if result.refused:
        for name in FILES[engine]:
            (out_dir / name).unlink(missing_ok=True)
    return result
