"""Where each model's weights can come from: the bundled file or the spec's downloads.

URLs honour ``RESNET_MIRROR`` (a base URL serving the same file names).  Stdlib only.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from resnet_cli import registry, settings
from resnet_cli.registry import WeightFile

BUNDLED_DIR = Path(__file__).resolve().parent.parent / "bundled"


def url(source: WeightFile) -> str:
    """The URL to download ``source`` from: the mirror's when one is set."""
    return (settings.current().mirror or source.public_base) + source.filename


def bundled_path(model: str) -> Path | None:
    """The ``.params`` shipped in the package for ``model``, if there is one."""
    spec = registry.MODELS.get(registry.canonical_name(model))
    if spec is None or spec.bundled is None:
        return None
    path = BUNDLED_DIR / spec.bundled
    return path if path.is_file() else None


def bundled_record(model: str) -> dict[str, Any] | None:
    """The provenance record beside a bundled file (its SHA-256 and origin)."""
    path = bundled_path(model)
    record = path.with_suffix(".json") if path is not None else None
    return json.loads(record.read_text()) if record is not None and record.is_file() else None
