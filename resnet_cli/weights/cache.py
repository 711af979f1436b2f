"""The weights cache: ``<cache>/<model>.params`` beside a JSON record of its SHA-256 and
provenance, atomic installs, a lock per model, and what ``resnet weights list`` shows.

Files are written to a temporary name and renamed into place, so a reader never sees a
partial file; an exclusive lock per model keeps two processes from fetching twice.
"""

from __future__ import annotations

import contextlib
import enum
import fcntl
import glob
import hashlib
import json
import os
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from resnet_cli import registry, settings
from resnet_cli.errors import ResnetError
from resnet_cli.registry import canonical_name
from resnet_cli.weights import catalog


class State(enum.Enum):
    """What :func:`check` found."""

    VALID = "valid"
    MISSING = "not cached"
    DAMAGED = "damaged"


@dataclass(frozen=True)
class Check:
    state: State
    problem: str | None = None  # why DAMAGED, in one line


def cache_dir() -> Path:
    """``$RESNET_HOME``, else ``$XDG_CACHE_HOME/resnet``, else ``~/.cache/resnet``."""
    return settings.current().home


def cached_path(model: str) -> Path:
    """Where the cache keeps (or would keep) ``model``'s Gluon ``.params``."""
    return cache_dir() / f"{canonical_name(model)}.params"


def record_path(model: str) -> Path:
    return cache_dir() / f"{canonical_name(model)}.json"


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def read_record(model: str) -> dict[str, Any] | None:
    try:
        return json.loads(record_path(model).read_text())
    except (OSError, ValueError):
        return None


def _stamp(path: Path) -> list[int]:
    st = path.stat()
    return [st.st_size, st.st_mtime_ns]


def check(model: str, full: bool = False) -> Check:
    """Whether the cached file is there and matches its record.

    Without ``full``, a file whose size and mtime are those recorded when it was last
    hashed is trusted (git's index does the same); any rewrite changes them.
    """
    path, record = cached_path(model), read_record(model)
    if not path.is_file():
        return Check(State.MISSING)
    if record is None or "sha256" not in record:
        # Placed there by hand: adopt it, so later changes to it are caught.
        _write_json_atomic(record_path(model), {
            "model": canonical_name(model), "sha256": sha256_file(path), "kind": "adopted",
            "source": str(path), "verified_stamp": _stamp(path)})
        return Check(State.VALID)
    if not full and record.get("verified_stamp") == _stamp(path):
        return Check(State.VALID)
    actual = sha256_file(path)
    if actual != record["sha256"]:
        return Check(State.DAMAGED, f"SHA-256 {actual[:12]}... does not match the recorded "
                                    f"{record['sha256'][:12]}...")
    record["verified_stamp"] = _stamp(path)
    _write_json_atomic(record_path(model), record)
    return Check(State.VALID)


def verify(model: str) -> Check:
    """Re-hash ``model``'s weights in full: the bundled file against the SHA-256 shipped
    beside it, else the cached file against its record."""
    bundled = catalog.bundled_path(model)
    if bundled is None:
        return check(model, full=True)
    expected = (catalog.bundled_record(model) or {}).get("sha256")
    actual = sha256_file(bundled)
    if actual == expected:
        return Check(State.VALID)
    return Check(State.DAMAGED, f"bundled {bundled.name}: SHA-256 {actual[:12]}... is not the "
                                f"shipped {str(expected)[:12]}...")


def _write_json_atomic(path: Path, data: dict[str, Any]) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=temporary_prefix(path.stem, "record"),
                               suffix=".part")
    with os.fdopen(fd, "w") as f:
        json.dump(data, f, indent=2)
        f.write("\n")
    os.replace(tmp, path)


def install(model: str, params_file: Path, provenance: dict[str, Any]) -> Path:
    """Move a verified temporary ``.params`` into the cache with its record."""
    target = cached_path(model)
    record = {"model": canonical_name(model), "sha256": sha256_file(params_file),
              **provenance}
    os.replace(params_file, target)
    record["verified_stamp"] = _stamp(target)
    _write_json_atomic(record_path(model), record)
    return target


TEMPORARY_KINDS = ("download", "convert", "import", "record")


def temporary_prefix(model: str, kind: str) -> str:
    """``.<model>.<kind>-``: every file on its way in is named after its model, so the
    holder of the model's lock knows any other such file is a dead process's leftover."""
    return f".{canonical_name(model)}.{kind}-"


def temporary(model: str, kind: str, fill: Callable[[Path], object]) -> Path:
    """A new ``.params`` file in the cache written by ``fill(path)``, for a file on its way
    in; removed again if ``fill`` fails, so no failure leaves a temporary behind."""
    cache_dir().mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=cache_dir(), prefix=temporary_prefix(model, kind),
                                suffix=".params")
    os.close(fd)
    path = Path(name)
    try:
        fill(path)
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return path


def remove_stale(model: str) -> None:
    """Delete partial files of ``model`` left by a killed process (hold its lock)."""
    for kind in TEMPORARY_KINDS:
        for path in cache_dir().glob(glob.escape(temporary_prefix(model, kind)) + "*"):
            path.unlink(missing_ok=True)


@contextlib.contextmanager
def writing() -> Iterator[None]:
    """Failures to write the cache (a full disk, no permission) as one line, exit 2."""
    try:
        yield
    except OSError as exc:
        reason = exc.strerror or str(exc)
        where = f" ({exc.filename})" if exc.filename else ""
        raise ResnetError(f"weights cache {cache_dir()}: {reason}{where}", reason) from None


@contextlib.contextmanager
def lock(model: str) -> Iterator[None]:
    """Hold ``model``'s exclusive lock (other processes wait here)."""
    cache_dir().mkdir(parents=True, exist_ok=True)
    with open(cache_dir() / f".{canonical_name(model)}.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@dataclass(frozen=True)
class Status:
    """One row of ``resnet weights list``."""

    model: str
    source: str
    checksum: str
    size: int | None
    cached: bool
    path: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def status(model: str) -> Status:
    model = canonical_name(model)
    if (path := catalog.bundled_path(model)) is not None:
        record = catalog.bundled_record(model) or {}
        return Status(model, "bundled", "sha256:" + record.get("sha256", ""),
                      path.stat().st_size, True, str(path))
    found = registry.MODELS[model].sources if model in registry.MODELS else ()
    path = cached_path(model)
    return Status(model, ", ".join(s.kind for s in found) or "none",
                  ", ".join(f"{s.algorithm}:{s.checksum}" for s in found),
                  path.stat().st_size if path.is_file() else None, path.is_file(), str(path))
