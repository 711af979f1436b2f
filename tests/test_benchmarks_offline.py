"""The benchmark scripts run in a checkout without ../shared, as a new user has it."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest


@pytest.mark.slow
def test_batch_benchmark_runs_in_a_checkout_without_shared(tmp_path):
    root = Path(__file__).resolve().parents[1]
    checkout = tmp_path / "checkout"  # no ../shared beside it
    for part in ("benchmarks", "tests/data"):
        shutil.copytree(root / part, checkout / part)
    result = subprocess.run(
        [sys.executable, str(checkout / "benchmarks" / "batch_throughput.py"), "--skip-rss",
         "--repeats", "1"], capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr
    assert "not found: measuring on 200 images made from the photos in" in result.stderr
    assert "ratio end-to-end / model-only" in result.stdout
