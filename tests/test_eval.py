"""``resnet eval``: labels from file names and folders, and accuracy on the ImageNet sample."""

from __future__ import annotations

import json
import shutil

import pytest
from helpers import invoke

from resnet_cli import registry
from resnet_cli.classes import imagenet_classes
from resnet_cli.evaluation import Labeller


@pytest.fixture(scope="module")
def labeller() -> Labeller:
    return Labeller(imagenet_classes())


@pytest.mark.parametrize(("path", "index"), [
    ("/x/n01440764_tench.JPEG", 0),
    ("/x/n02123045/photo.jpg", 281),
    ("/x/tabby/photo.jpg", 281),
    ("/x/Tiger_Cat/photo.jpg", 282),
    ("/x/espresso/cup.png", 967),
    ("/x/holiday/photo.jpg", None),
])
def test_labels_from_names_and_folders(labeller, path, index):
    assert labeller(path) == index


def test_eval_on_folders_named_by_class(photos, tmp_path, cache):
    (tmp_path / "espresso").mkdir()
    (tmp_path / "n02123045").mkdir()
    (tmp_path / "unlabelled").mkdir()
    shutil.copy(photos["coffee"], tmp_path / "espresso" / "a.png")
    shutil.copy(photos["chelsea"], tmp_path / "n02123045" / "b.png")  # tabby: top-5, not top-1
    shutil.copy(photos["rocket"], tmp_path / "unlabelled" / "c.jpg")
    result = invoke("eval", "--model", "squeezenet1.1", "-f", "json", str(tmp_path))
    assert result.exit_code == 1  # the unlabelled file is reported
    report = json.loads(result.stdout)
    assert report["images"] == 2 and report["failed"] == 1
    assert report["top1"] == 0.5 and report["top5"] == 1.0
    assert report["errors"][0]["path"].endswith("c.jpg")
    assert {c["label"] for c in report["per_class"]} == {"espresso", "tabby"}


@pytest.mark.slow
def test_bundled_model_accuracy_on_imagenet_sample(sample_eval):
    """Same code path as the CLI: expand -> preprocess threads -> batches -> records."""
    report = sample_eval
    assert report["images"] == 1000 and report["failed"] == 0
    spec = registry.get("squeezenet1.1")  # the figures the registry (and README) state
    assert abs(report["top1"] - spec.top1) <= 0.0005 and abs(report["top5"] - spec.top5) <= 0.0005
    assert len(report["per_class"]) == 1000
