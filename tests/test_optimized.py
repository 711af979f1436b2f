"""The fused oneDNN fp32 path loses nothing against the plain hybridized graph."""

from __future__ import annotations

import numpy as np
import pytest

from resnet_cli.classifier import Classifier
from resnet_cli.preprocess import Preprocessing


def compare(fused: Classifier, plain: Classifier, batch: np.ndarray) -> tuple[bool, float]:
    a, b = fused.probabilities(batch), plain.probabilities(batch)
    same_top5 = (np.argsort(-a, axis=1)[:, :5] == np.argsort(-b, axis=1)[:, :5]).all()
    return bool(same_top5), float(np.abs(a - b).max())


def test_fused_equals_plain_on_photos(photos):
    batch = np.stack([Preprocessing()(p) for p in photos.values()])
    same, diff = compare(Classifier.load("squeezenet1.1"),
                         Classifier.load("squeezenet1.1", fuse=False), batch)
    assert same and diff <= 1e-4


@pytest.mark.slow
def test_fused_equals_plain_on_imagenet_sample(sample_dir):
    fused = Classifier.load("squeezenet1.1")
    plain = Classifier.load("squeezenet1.1", fuse=False)
    pre = Preprocessing()
    files = sorted(sample_dir.glob("*.JPEG"))
    worst = 0.0
    for i in range(0, len(files), 50):
        same, diff = compare(fused, plain, np.stack([pre(f) for f in files[i:i + 50]]))
        assert same
        worst = max(worst, diff)
    assert worst <= 1e-4


def test_fused_resnet_folds_batchnorm_without_changing_results(photos, resnet18_params):
    fused = Classifier.load("resnet18", resnet18_params)
    plain = Classifier.load("resnet18", resnet18_params, fuse=False)
    batch = np.stack([Preprocessing()(p) for p in photos.values()])
    assert np.abs(fused.logits(batch) - plain.logits(batch)).max() <= 1e-3
    _, diff = compare(fused, plain, batch)
    assert diff <= 1e-4
