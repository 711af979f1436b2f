"""Read and write Gluon ``.params`` files, with MXNet's errors reduced to one line."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from resnet_cli import models
from resnet_cli.errors import ResnetError
from resnet_cli.runtime import mxnet


def load_into(net: Any, path: Path) -> None:
    """``load_parameters`` (structural or legacy names); ResnetError on any mismatch."""
    mx = mxnet()
    try:
        net.load_parameters(str(path), ctx=mx.cpu())
    except (mx.base.MXNetError, AssertionError, ValueError, KeyError) as exc:
        text = str(exc).strip()
        first = text.splitlines()[0] if text else type(exc).__name__
        raise ResnetError(f"cannot load weights {path}: {first}") from None


def check_loads(model: str, path: Path) -> None:
    """Prove ``path`` fits ``model`` by loading it into a fresh network."""
    load_into(models.builder(model)(classes=1000), path)


def save(params: dict[str, np.ndarray], path: Path) -> None:
    mx = mxnet()
    mx.nd.save(str(path), {name: mx.nd.array(value, dtype=value.dtype)
                           for name, value in params.items()})
