"""Environment settings, read once per process into one :class:`Settings` value.

``RESNET_HOME`` (weights cache), ``RESNET_MIRROR`` (base URL replacing the public
hosts), ``RESNET_TIMEOUT`` (network wait, seconds) and ``OMP_NUM_THREADS`` (MXNet's
threads).  Code asks :func:`current`; tests that change the environment call
:func:`reload`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

DEFAULT_TIMEOUT = 30.0


def available_cores() -> int:
    """Cores this process may run on (not the machine's total)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


@dataclass(frozen=True)
class Settings:
    home: Path  # the weights cache
    mirror: str | None  # base URL serving the weights' file names, or None
    timeout: float  # seconds for connect and each read
    cores: int  # cores available to this process: default decoding threads
    threads: int  # MXNet's OpenMP threads

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] = os.environ) -> Settings:
        cores = available_cores()
        if home := environ.get("RESNET_HOME"):
            cache = Path(home).expanduser()
        else:
            cache = Path(environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "resnet"
        mirror = environ.get("RESNET_MIRROR") or None
        return cls(cache, mirror.rstrip("/") + "/" if mirror else None,
                   _number(environ.get("RESNET_TIMEOUT"), DEFAULT_TIMEOUT), cores,
                   int(_number(environ.get("OMP_NUM_THREADS"), cores)) or cores)


def _number(text: str | None, default: float) -> float:
    try:
        return float(text) if text else default
    except ValueError:
        return default


_current: Settings | None = None


def current() -> Settings:
    """The settings of this process, read from the environment on first use."""
    global _current
    if _current is None:
        _current = Settings.from_environ()
    return _current


def reload() -> Settings:
    """Read the environment again (after a test or an embedding program changed it)."""
    global _current
    _current = None
    return current()
