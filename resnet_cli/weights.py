"""Where a model's weights live: a file the user names, the bundled model, or the cache."""

from __future__ import annotations

import os
from pathlib import Path

from resnet_cli.errors import ResnetError
from resnet_cli.models import BUNDLED_MODEL, canonical_name

BUNDLED_DIR = Path(__file__).parent / "bundled"


def cache_dir() -> Path:
    """``$RESNET_HOME``, else ``$XDG_CACHE_HOME/resnet``, else ``~/.cache/resnet``."""
    if home := os.environ.get("RESNET_HOME"):
        return Path(home).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(xdg) / "resnet"


def bundled_path(model: str) -> Path | None:
    path = BUNDLED_DIR / f"{canonical_name(model)}.params"
    return path if path.is_file() else None


def cached_path(model: str) -> Path:
    """Where the cache keeps (or would keep) ``model``'s Gluon ``.params``."""
    return cache_dir() / f"{canonical_name(model)}.params"


def locate(model: str, weights: str | os.PathLike[str] | None = None) -> Path:
    """The ``.params`` file to load for ``model``, or a ResnetError saying what to do."""
    if weights is not None:
        path = Path(weights)
        if not path.is_file():
            raise ResnetError(f"weights file not found: {path}")
        return path
    if (path := bundled_path(model)) is not None:
        return path
    path = cached_path(model)
    if path.is_file():
        return path
    raise ResnetError(
        f"no weights for {canonical_name(model)}: looked for {path}. Pass --weights FILE "
        f"(a Gluon .params), put the file there, or use the bundled model: "
        f"--model {BUNDLED_MODEL}"
    )
