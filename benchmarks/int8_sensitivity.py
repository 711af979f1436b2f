"""Where int8 SqueezeNet's top-1 disagreements with fp32 come from, convolution by convolution.

Run:  .venv/bin/pip install -e '.[int8]' && .venv/bin/python benchmarks/int8_sensitivity.py

Calibrates once on the sample images exactly as ``resnet build --int8`` does (entropy
thresholds, per-channel weights, the head after the final pool in fp32) and keeps those
thresholds.  Then quantizes the network several ways and prints, for each, the top-1
agreement with fp32 and the RMS error of the logits over the same images:
everything (what ``build`` ships), no convolution (only the pools and concats between
them), each convolution alone, and everything with all thresholds scaled.
"""

from __future__ import annotations

import argparse
import statistics
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
from devdata import image_folder

import resnet_cli
from resnet_cli import build
from resnet_cli.runtime import mxnet

Thresholds = dict[str, tuple[float, float]]


@contextmanager
def captured_thresholds() -> Iterator[Thresholds]:
    """Record the thresholds MXNet's calibration writes into the quantized graph."""
    from mxnet.contrib import quantization

    seen: Thresholds = {}
    original = quantization._calibrate_quantized_sym

    def spy(qsym: Any, th_dict: Thresholds) -> Any:
        seen.update(th_dict)
        return original(qsym, th_dict)

    quantization._calibrate_quantized_sym = spy
    try:
        yield seen
    finally:
        quantization._calibrate_quantized_sym = original


class FixedThresholds:
    """A 'customize' collector that ignores activations and hands back set thresholds."""

    include_layer = None

    def __init__(self, thresholds: Thresholds) -> None:
        self.min_max_dict = thresholds

    def collect(self, name: str, arr: Any) -> None:
        pass


def quantized(net: Any, thresholds: Thresholds, scale: float, fp32_convs: list[str],
              data: np.ndarray) -> Any:
    """``net`` quantized with given thresholds (times ``scale``, input excepted)."""
    mx = mxnet()
    from mxnet.contrib import quantization

    scaled = {name: (low * scale, high * scale) if name != "data" else (low, high)
              for name, (low, high) in thresholds.items()}
    calib = mx.io.NDArrayIter(data=mx.nd.array(data[:50]), batch_size=50, data_name="data")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return quantization.quantize_net_v2(
            net, **build.QUANTIZATION, calib_data=calib, calib_mode="customize",
            num_calib_examples=50, ctx=mx.cpu(),
            exclude_layers=build.classifier_head(net) + fp32_convs,
            LayerOutputCollector=FixedThresholds(scaled))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=Path, default=None,
                        help="images [default: the ImageNet sample, else --count made "
                             "from tests/data]")
    parser.add_argument("--count", type=int, default=1000)
    args = parser.parse_args()

    classifier = resnet_cli.load("squeezenet1.1", fuse=False)
    images = image_folder(args.images, args.count)
    data = build.calibration_tensors(images, classifier.preprocess, args.count, print)
    net = classifier.net
    reference = build.logits(net, data)
    with captured_thresholds() as thresholds:
        build.quantize(net, data)
    convs = sorted((name.removesuffix("_output") for name in thresholds
                    if name.startswith("sg_mkldnn_conv")),
                   key=lambda name: int(name.rsplit("_", 1)[1]))

    def report(label: str, fp32_convs: list[str], scale: float = 1.0) -> float:
        out = build.logits(quantized(net, thresholds, scale, fp32_convs, data), data)
        agreement = float((out.argmax(1) == reference.argmax(1)).mean())
        rms = float(np.sqrt(((out - reference) ** 2).mean()))
        print(f"{label:<36} top-1 agreement {agreement:6.1%}   logit RMS error {rms:.3f}",
              flush=True)
        return agreement

    print(f"squeezenet1.1, {len(data)} images, {len(convs)} fused convolutions")
    report("all quantized (resnet build)", [])
    report("no convolution quantized", convs)
    alone = [report(f"only {conv} quantized", [c for c in convs if c != conv])
             for conv in convs]
    print(f"one convolution alone: agreement median {statistics.median(alone):.1%}, "
          f"best {max(alone):.1%}, worst {min(alone):.1%}")
    for scale in (0.8, 1.25):
        report(f"all quantized, thresholds x{scale:g}", [], scale)


if __name__ == "__main__":
    main()
