"""Environment settings, read once per process into one :class:`Settings` value.

``RESNET_HOME`` (weights cache), ``RESNET_MIRROR`` (base URL replacing the public
hosts), ``RESNET_TIMEOUT`` (network wait, seconds), ``RESNET_DEADLINE`` (seconds one
download may take in all) and ``OMP_NUM_THREADS`` (MXNet's threads).  Code asks
:func:`current`; tests that change the environment call :func:`reload`.

An invalid ``RESNET_*`` value is a :class:`ResnetError` (one line, exit 2) the first time
the settings are read, rather than a traceback wherever the value is first used.
"""

from __future__ import annotations

import math
import os
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from resnet_cli.errors import ResnetError

DEFAULT_TIMEOUT = 30.0
DEFAULT_DEADLINE = 1800.0  # 30 min: a 550 MB VGG file at 1 MB/s fits, a drip does not


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
    deadline: float  # seconds one whole download may take
    cores: int  # cores available to this process: default decoding threads
    threads: int  # MXNet's OpenMP threads
    threads_requested: bool  # OMP_NUM_THREADS set them (else: the available cores)

    @property
    def engine_threads(self) -> int | None:
        """Threads for ONNX Runtime / OpenVINO: the count the user asked for, else None (the
        runtime's own default: one thread per physical core, pinned to it, inside this
        process's CPU mask; the same on AVX2 and AVX-512 CPUs, and what a bare session of
        that runtime does, so ``--engine`` runs with the runtime's own settings)."""
        return self.threads if self.threads_requested else None

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] = os.environ) -> Settings:
        cores = available_cores()
        requested = _requested_threads(environ.get("OMP_NUM_THREADS"))
        if home := environ.get("RESNET_HOME"):
            cache = Path(home).expanduser()
        else:
            cache = Path(environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "resnet"
        if cache.exists() and not cache.is_dir():
            raise ResnetError(f"weights cache {cache} (RESNET_HOME) is not a directory")
        return cls(cache, _mirror(environ.get("RESNET_MIRROR")),
                   _seconds(environ, "RESNET_TIMEOUT", DEFAULT_TIMEOUT),
                   _seconds(environ, "RESNET_DEADLINE", DEFAULT_DEADLINE), cores,
                   requested or cores, requested is not None)


def _seconds(environ: Mapping[str, str], name: str, default: float) -> float:
    text = environ.get(name)
    if not text:
        return default
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise ResnetError(f"{name}={text!r}: not a positive number of seconds")
    return value


def _mirror(text: str | None) -> str | None:
    """The mirror's base URL ending in ``/``; an http(s) URL with a host, or an error."""
    if not text:
        return None
    try:
        parts = urllib.parse.urlsplit(text)
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError as exc:
        raise ResnetError(f"RESNET_MIRROR={text!r}: not a URL ({exc})") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ResnetError(f"RESNET_MIRROR={text!r}: not an http:// or https:// URL")
    return text.rstrip("/") + "/"


def _requested_threads(text: str | None) -> int | None:
    """``OMP_NUM_THREADS`` when it is one positive count, else None: the available cores
    (OpenMP also accepts lists such as ``4,2``; MXNet then reads the variable itself)."""
    return int(text) if text and text.isdigit() and int(text) > 0 else None


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
