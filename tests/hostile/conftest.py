"""Hostile inputs: each test makes its own small files and runs the real ``resnet``."""

from __future__ import annotations

import pytest
from hostile_proc import DATA, SQUEEZE, resnet


@pytest.fixture(scope="session")
def baseline_rss() -> float:
    """Peak RSS of classifying one small photo: MXNet, the model, the interpreter."""
    run = resnet("predict", *SQUEEZE, "-f", "jsonl", str(DATA / "coffee.png"))
    assert run.returncode == 0, run.stderr
    return run.peak_rss_mib

