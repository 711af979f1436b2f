"""Development data beside the checkout (read-only, present in CI), named once for the
benchmarks and the tests: ``../shared/data/imagenet-sample`` holds 1000 ImageNet JPEGs, one
per class, named ``WNID_name.JPEG``."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT.parent / "shared" / "data" / "imagenet-sample"
