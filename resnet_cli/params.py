"""Read and write Gluon ``.params`` files, with MXNet's errors reduced to one line."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np

from resnet_cli import registry
from resnet_cli.errors import ResnetError
from resnet_cli.runtime import mxnet


def load_into(net: Any, path: Path) -> None:
    """``load_parameters`` (structural or legacy names); ResnetError on any mismatch."""
    mx = mxnet()
    try:
        net.load_parameters(str(path), ctx=mx.cpu())
    except (mx.base.MXNetError, AssertionError, ValueError, KeyError) as exc:
        reason = mxnet_reason(exc)
        raise ResnetError(f"cannot load weights {path}: {reason}", reason) from None


def mxnet_reason(exc: Exception) -> str:
    """MXNet's first line, without the file name, the parameter listing or its advice."""
    lines = str(exc).strip().splitlines() or [type(exc).__name__]
    # C++ errors carry a traceback; the reason ends their last line, after the check.
    first = lines[-1].rsplit(": ", 1)[-1] if lines[0].startswith("Traceback") else lines[0]
    first = re.sub(r" (?:in|from) file '[^']*'", "", first)
    return re.split(r", which contains|, choices are|\. Set |\. Please ", first)[0]


def check_loads(model: str, path: Path) -> None:
    """Prove ``path`` fits ``model`` by loading it into a fresh network."""
    load_into(registry.get(model).build(classes=1000), path)


def save(params: dict[str, np.ndarray], path: Path) -> None:
    """Write ``params``; MXNet reports a failed write (a full disk) as an MXNetError."""
    mx = mxnet()
    try:
        mx.nd.save(str(path), {name: mx.nd.array(value, dtype=value.dtype)
                               for name, value in params.items()})
    except mx.base.MXNetError as exc:
        raise ResnetError(f"cannot write {path}: {mxnet_reason(exc)}") from None
