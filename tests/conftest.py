"""Shared fixtures: real photos in tests/data, the ImageNet sample beside the checkout."""

from __future__ import annotations

from pathlib import Path

import pytest

DATA = Path(__file__).parent / "data"
SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
SAMPLE = SHARED / "imagenet-sample"

CAT_CLASSES = {"tabby", "tiger cat", "Egyptian cat", "Persian cat", "Siamese cat"}
COFFEE_CLASSES = {"espresso", "cup", "coffee mug"}


@pytest.fixture(scope="session")
def photos() -> dict[str, Path]:
    return {p.stem: p for p in DATA.iterdir() if p.suffix in (".png", ".jpg")}


@pytest.fixture(scope="session")
def squeezenet():
    from resnet_cli.classifier import Classifier

    return Classifier.load("squeezenet1.1")


@pytest.fixture(scope="session")
def sample_dir() -> Path:
    if not SAMPLE.is_dir():
        pytest.skip(f"ImageNet sample not present at {SAMPLE}")
    return SAMPLE


@pytest.fixture
def cache(tmp_path, monkeypatch) -> Path:
    """An empty weights cache, so tests never see the user's ~/.cache/resnet."""
    home = tmp_path / "resnet-home"
    monkeypatch.setenv("RESNET_HOME", str(home))
    return home
