"""ResNet-18 model-only images/s in ONNX Runtime, PyTorch and resnet (fp32, fused, int8), paired.

Run:  .venv/bin/pip install -e '.[bench]' && .venv/bin/python benchmarks/compare_pytorch.py

One set of weights (a torchvision-layout ResNet-18 with random weights and BatchNorm
statistics; speed does not depend on the values) is exported to ONNX from torch and
converted to Gluon by ``resnet weights import``'s converter, so all engines run the same
network on the same batch of real, preprocessed images.  Engines run alternately,
``--repeats`` rounds of about a second each; medians and ratios to ONNX Runtime are
printed.  ``resnet int8`` is the network quantized by ``resnet build --int8`` (entropy
calibration on ``--calibration`` images).  Every engine uses all available cores.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
from devdata import image_folder

from resnet_cli import bench, build, params, settings
from resnet_cli.convert import torchvision_to_gluon
from resnet_cli.network import resnet18
from resnet_cli.preprocess import Preprocessing
from resnet_cli.runtime import mxnet, optimize
from resnet_cli.torch_formats import StateDict


def images(folder: Path, count: int) -> np.ndarray:
    pre = Preprocessing()
    return np.stack([pre(p) for p in bench.image_paths(folder)[:count]])


def torch_engine(batch: np.ndarray) -> tuple[Callable[[], object], object, StateDict]:
    import torch
    from torch_resnet import randomized

    torch.set_num_threads(settings.current().cores)
    net = randomized()
    x = torch.from_numpy(batch)

    def run() -> object:
        with torch.inference_mode():
            return net(x)

    state = {k: v.numpy() for k, v in net.state_dict().items()}
    return run, net, state


def onnx_engine(net: object, batch: np.ndarray, workdir: Path) -> Callable[[], object]:
    import onnxruntime
    import torch

    path = workdir / "resnet18.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(net, torch.from_numpy(batch), str(path), input_names=["data"],
                          output_names=["logits"], opset_version=13, dynamo=False)
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = settings.current().cores
    session = onnxruntime.InferenceSession(str(path), options,
                                           providers=["CPUExecutionProvider"])
    return lambda: session.run(None, {"data": batch})


def mxnet_engines(state: StateDict, batch: np.ndarray, calibration: np.ndarray,
                  workdir: Path) -> dict[str, Callable[[], object]]:
    mx = mxnet()
    path = workdir / "resnet18.params"
    params.save(torchvision_to_gluon(state), path)
    x = mx.nd.array(batch)

    def load() -> object:
        net = resnet18()
        params.load_into(net, path)
        return net

    plain = load()
    plain.hybridize(static_alloc=True, static_shape=True)
    fused = optimize(load(), batch.shape[-1])
    int8 = build.quantize(load(), calibration)
    int8.hybridize(static_alloc=True, static_shape=True)
    return {name: (lambda n=net: n(x).asnumpy())
            for name, net in (("resnet fp32 plain", plain), ("resnet fp32", fused),
                              ("resnet int8", int8))}


def measure(run: Callable[[], object], images_per_call: int, seconds: float) -> float:
    start = time.perf_counter()
    calls = 0
    while time.perf_counter() - start < seconds:
        run()
        calls += 1
    return calls * images_per_call / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--seconds", type=float, default=1.0)
    parser.add_argument("--images", type=Path, default=None,
                        help="images [default: the ImageNet sample, else made from "
                             "tests/data]")
    parser.add_argument("--calibration", type=int, default=200)
    args = parser.parse_args()
    try:
        import torch  # noqa: F401 - the reference network and its ONNX export come from it
    except ImportError:
        raise SystemExit("compare.py needs torch: pip install -e '.[bench]' installs torch "
                         "2.13.0 (CPU) on Python 3.11; on 3.12 install a CPU build of torch "
                         "yourself") from None

    count = max(args.batch_size, args.calibration)
    data = images(image_folder(args.images, count), count)
    batch = np.ascontiguousarray(data[: args.batch_size])
    with tempfile.TemporaryDirectory() as tmp:
        run_torch, net, state = torch_engine(batch)
        engines = {"onnxruntime": onnx_engine(net, batch, Path(tmp)), "pytorch": run_torch}
        engines.update(mxnet_engines(state, batch, data[: args.calibration], Path(tmp)))
    for run in engines.values():  # warm-up: first calls allocate and pick kernels
        run()
        run()
    rates: dict[str, list[float]] = {name: [] for name in engines}
    for _ in range(args.repeats):
        for name, run in engines.items():
            rates[name].append(measure(run, args.batch_size, args.seconds))
    base = statistics.median(rates["onnxruntime"])
    print(f"ResNet-18, batch {args.batch_size}, {settings.current().cores} cores, "
          f"{args.repeats} alternating rounds of ~{args.seconds:g} s")
    print("(paired: median over rounds of each round's ratio, which cancels the drift of a"
          " noisy machine)")
    for name, values in rates.items():
        median = statistics.median(values)
        paired = statistics.median(v / b for v, b in zip(values, rates["onnxruntime"], strict=True))
        runs = " ".join(f"{v:.1f}" for v in values)
        print(f"{name:<18} {median:7.1f} images/s  x{median / base:5.2f} vs onnxruntime"
              f"  paired x{paired:5.2f}   (runs {runs})")


if __name__ == "__main__":
    main()
