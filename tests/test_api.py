"""The public Python API: ``resnet_cli.load`` / ``classify``, lazily exported."""

from __future__ import annotations

import pickle
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
from helpers import COFFEE_CLASSES
from PIL import Image

import resnet_cli
from resnet_cli.records import Record, Source

ROOT = Path(__file__).resolve().parents[1]


def test_predict_takes_paths_images_and_arrays_alike(squeezenet, photos):
    path = photos["coffee"]
    with Image.open(path) as img:
        rgb = img.convert("RGB")
    tensor = squeezenet.preprocess(path)
    results = squeezenet.predict([path, str(path), rgb, np.asarray(rgb), tensor], k=3)
    assert all(r == results[0] for r in results)
    assert results[0][0].label in COFFEE_CLASSES
    assert squeezenet.predict(tensor[None], k=3) == results[:1]  # a batch of tensors
    assert squeezenet.predict([], k=3) == []


def test_classifier_owns_its_models_preprocessing():
    from resnet_cli import registry
    from resnet_cli.preprocess import Preprocessing

    spec = registry.get("squeezenet1.1")
    assert Preprocessing.of(spec) == Preprocessing(256, 224, spec.mean, spec.std)
    assert Preprocessing.of(registry.get("inceptionv3")).crop == 299


def test_classify_streams_one_picklable_record_per_input(squeezenet, photos, tmp_path):
    shutil.copy(photos["coffee"], tmp_path / "a.png")
    (tmp_path / "b.jpg").write_bytes(b"not an image")
    inputs = [tmp_path, Source("given.png", "skipped by the caller"), tmp_path / "missing.png"]
    records = list(resnet_cli.classify(inputs, classifier=squeezenet, k=2, batch_size=2))
    assert [Path(r.path).name for r in records] == ["a.png", "b.jpg", "given.png",
                                                     "missing.png"]
    assert records[0].predictions[0].label == "espresso" and len(records[0].predictions) == 2
    assert [r.error for r in records[1:]] == ["not an image Pillow can read",
                                              "skipped by the caller", "no such file or folder"]
    assert pickle.loads(pickle.dumps(records)) == records
    assert isinstance(records[0], Record)


def test_readme_example_runs_as_documented():
    readme = (ROOT / "README.md").read_text()
    code = re.search(r"## Python API\n\n```python\n(.*?)```", readme, re.S).group(1)
    assert len(code.strip().splitlines()) == 5
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                         text=True, check=True)
    assert out.stdout.strip() == re.search(r"# (espresso \S+)", code).group(1)


def test_import_is_lazy():
    code = ("import sys, resnet_cli\nassert 'numpy' not in sys.modules\n"
            "resnet_cli.Record\nassert 'numpy' not in sys.modules\n"
            "resnet_cli.load\nassert 'mxnet' not in sys.modules and 'numpy' in sys.modules\n"
            "print('ok')")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.stdout.strip() == "ok", out.stderr
