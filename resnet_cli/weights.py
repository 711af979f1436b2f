"""Weights: where they live, where they come from, and keeping the cache honest.

Each model's Gluon ``.params`` is cached as ``<cache>/<model>.params`` beside a JSON record
(``<model>.json``) of its SHA-256 and provenance.  Sources, tried in order: the Gluon
model-zoo zip (its ``.params`` verified by the published SHA-1), then for ResNet-18/34 the
torchvision ``.pth`` (verified by the SHA-256 prefix in its name) converted to the Gluon
layout.  ``RESNET_MIRROR`` replaces the public hosts with a base URL serving the same
file names.  Downloads land in a temporary file and are renamed into place only once
verified; an exclusive lock per model keeps two processes from fetching twice.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import tempfile
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from resnet_cli import models
from resnet_cli.download import DownloadError, download
from resnet_cli.errors import ResnetError
from resnet_cli.models import BUNDLED_MODEL, canonical_name

BUNDLED_DIR = Path(__file__).parent / "bundled"
GLUON_REPO = "https://apache-mxnet.s3-accelerate.dualstack.amazonaws.com/gluon/models/"
TORCHVISION_REPO = "https://download.pytorch.org/models/"
TORCHVISION_FILES = {"resnet18_v1": "resnet18-f37072fd.pth",
                     "resnet34_v1": "resnet34-b627a593.pth"}

Notify = Callable[[str], None]


def quiet(_message: str) -> None:
    """Default notifier: say nothing."""


@dataclass(frozen=True)
class Source:
    """A downloadable file that yields ``model``'s weights."""

    kind: str  # "gluon-zoo" or "torchvision"
    filename: str
    algorithm: str  # "sha1" (of the .params in the zip) or "sha256-prefix" (of the file)
    checksum: str
    public_base: str

    @property
    def url(self) -> str:
        mirror = os.environ.get("RESNET_MIRROR")
        base = mirror.rstrip("/") + "/" if mirror else self.public_base
        return base + self.filename


def zoo_sha1() -> dict[str, str]:
    """The model zoo's published SHA-1 per model, as shipped with mxnet."""
    from resnet_cli.runtime import mxnet

    mxnet()
    from mxnet.gluon.model_zoo import model_store

    return dict(model_store._model_sha1)


def sources(model: str) -> list[Source]:
    model = canonical_name(model)
    found = []
    if sha1 := zoo_sha1().get(model):
        found.append(Source("gluon-zoo", f"{model}-{sha1[:8]}.zip", "sha1", sha1, GLUON_REPO))
    if filename := TORCHVISION_FILES.get(model):
        prefix = filename.rsplit("-", 1)[1].split(".")[0]
        found.append(Source("torchvision", filename, "sha256-prefix", prefix, TORCHVISION_REPO))
    return found


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


def _record_path(model: str) -> Path:
    return cache_dir() / f"{canonical_name(model)}.json"


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def read_record(model: str) -> dict[str, Any] | None:
    try:
        return json.loads(_record_path(model).read_text())
    except (OSError, ValueError):
        return None


def _stamp(path: Path) -> list[int]:
    st = path.stat()
    return [st.st_size, st.st_mtime_ns]


def verify_cached(model: str, full: bool = False) -> str | None:
    """None if the cached file matches its record, else why not.

    Without ``full``, a file whose size and mtime are those recorded when it was last
    hashed is trusted (git's index does the same); any rewrite changes them.
    """
    path, record = cached_path(model), read_record(model)
    if not path.is_file():
        return "not cached"
    if record is None or "sha256" not in record:
        # Placed there by hand: adopt it, so later changes to it are caught.
        _write_json_atomic(_record_path(model), {
            "model": canonical_name(model), "sha256": sha256_file(path), "kind": "adopted",
            "source": str(path), "verified_stamp": _stamp(path)})
        return None
    if not full and record.get("verified_stamp") == _stamp(path):
        return None
    actual = sha256_file(path)
    if actual != record["sha256"]:
        return f"SHA-256 {actual[:12]}... does not match the recorded {record['sha256'][:12]}..."
    record["verified_stamp"] = _stamp(path)
    _write_json_atomic(_record_path(model), record)
    return None


def _write_json_atomic(path: Path, data: dict[str, Any]) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".record-", suffix=".part")
    with os.fdopen(fd, "w") as f:
        json.dump(data, f, indent=2)
        f.write("\n")
    os.replace(tmp, path)


def _install(model: str, params_file: Path, provenance: dict[str, Any]) -> Path:
    """Move a verified temporary ``.params`` into the cache with its record."""
    target = cached_path(model)
    record = {"model": canonical_name(model), "sha256": sha256_file(params_file),
              **provenance}
    os.replace(params_file, target)
    record["verified_stamp"] = _stamp(target)
    _write_json_atomic(_record_path(model), record)
    return target


@contextlib.contextmanager
def _model_lock(model: str) -> Iterator[None]:
    cache_dir().mkdir(parents=True, exist_ok=True)
    with open(cache_dir() / f".{canonical_name(model)}.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _params_from_download(model: str, source: Source, tmp: Path) -> Path:
    """Verify a downloaded file and turn it into a temporary Gluon ``.params``."""
    if source.kind == "gluon-zoo":
        member = source.filename.removesuffix(".zip") + ".params"
        try:
            with zipfile.ZipFile(tmp) as archive:
                data = archive.read(member)
        except (zipfile.BadZipFile, KeyError):
            raise DownloadError(f"{source.url}: not a zip holding {member}") from None
        actual = hashlib.sha1(data).hexdigest()
        if actual != source.checksum:
            raise DownloadError(f"{source.url}: SHA-1 {actual} is not the published "
                                f"{source.checksum}")
        tmp.write_bytes(data)
        return tmp
    actual = sha256_file(tmp)
    if not actual.startswith(source.checksum):
        raise DownloadError(f"{source.url}: SHA-256 {actual[:16]}... does not start with "
                            f"{source.checksum} (the hash in its name)")
    return _convert_torch(model, tmp, "pth")


def _convert_torch(model: str, path: Path, fmt: str) -> Path:
    """A torchvision/timm ResNet state dict as a temporary Gluon ``.params`` in the cache."""
    from resnet_cli import params
    from resnet_cli.convert import torchvision_to_gluon
    from resnet_cli.torch_formats import read_pth, read_safetensors

    if canonical_name(model) not in TORCHVISION_FILES:
        raise ResnetError(f"torch weights convert only to {', '.join(TORCHVISION_FILES)}")
    state = read_pth(path) if fmt == "pth" else read_safetensors(path)
    try:
        converted = torchvision_to_gluon(state)
    except ResnetError as exc:
        raise ResnetError(f"{path}: {exc}") from None
    out = _temporary(".convert-")
    try:
        params.save(converted, out)
    except BaseException:
        out.unlink(missing_ok=True)
        raise
    return out


def _temporary(prefix: str) -> Path:
    """A new empty ``.params`` file in the cache, for a file on its way in."""
    cache_dir().mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=cache_dir(), prefix=prefix, suffix=".params")
    os.close(fd)
    return Path(name)


def fetch(model: str, force: bool = False, progress: bool = False,
          notify: Notify = quiet) -> Path:
    """Download, verify and cache ``model``'s weights; the cached path."""
    model = canonical_name(model)
    models.builder(model)  # unknown names fail before any network access
    candidates = sources(model)
    if not candidates:
        raise ResnetError(f"no download source for {model}")
    with _model_lock(model):
        if not force and verify_cached(model) is None:
            return cached_path(model)  # another process fetched it while we waited
        failures = []
        for source in candidates:
            try:
                if progress:
                    notify(f"fetching {model} weights from {source.url}")
                tmp = download(source.url, cache_dir(), progress)
                result = tmp
                try:
                    result = _params_from_download(model, source, tmp)
                    provenance = {"source": source.url, "kind": source.kind,
                                  "source_" + source.algorithm.replace("-", "_"):
                                      source.checksum}
                    return _install(model, result, provenance)
                finally:  # whatever was not moved into place goes
                    tmp.unlink(missing_ok=True)
                    result.unlink(missing_ok=True)
            except (DownloadError, ResnetError) as exc:
                failures.append(str(exc))
    raise ResnetError(
        f"cannot fetch weights for {model} ({'; '.join(failures)}). Cache: "
        f"{cached_path(model)}. Offline? Get the file elsewhere and run "
        f"'resnet weights import FILE --model {model}', or use the bundled model: "
        f"--model {BUNDLED_MODEL}"
    )


def detect_format(path: Path) -> str:
    """``params``, ``pth`` or ``safetensors``, from the suffix or else the first bytes."""
    suffix = path.suffix.lower()
    if suffix in (".params", ".pth", ".pt", ".safetensors"):
        return {".pt": "pth"}.get(suffix, suffix[1:])
    with path.open("rb") as f:
        head = f.read(16)
    if head.startswith(b"PK"):
        return "pth"
    if len(head) >= 9 and head[8:9] == b"{":
        return "safetensors"
    return "params"


def import_file(path: Path, model: str) -> Path:
    """Cache a local ``.params``, ``.pth`` or ``.safetensors`` as ``model``'s weights."""
    from resnet_cli import params

    model = canonical_name(model)
    models.builder(model)
    if not path.is_file():
        raise ResnetError(f"no such file: {path}")
    fmt = detect_format(path)
    with _model_lock(model):
        if fmt == "params":
            tmp = _temporary(".import-")
            try:
                shutil.copyfile(path, tmp)
            except BaseException:
                tmp.unlink(missing_ok=True)
                raise
        else:
            tmp = _convert_torch(model, path, fmt)
        try:
            try:
                params.check_loads(model, tmp)
            except ResnetError as exc:
                reason = str(exc).split(": ", 1)[-1]  # drop the temporary file's name
                raise ResnetError(f"{path} does not fit {model}: {reason}") from None
            provenance = {"source": str(path.resolve()), "kind": f"import-{fmt}",
                          "source_sha256": sha256_file(path)}
            return _install(model, tmp, provenance)
        finally:
            tmp.unlink(missing_ok=True)


def locate(model: str, weights: str | os.PathLike[str] | None = None,
           progress: bool = False, notify: Notify = quiet) -> Path:
    """The ``.params`` to load: ``--weights``, the bundled file, or the (verified) cache.

    Weights that are not cached are fetched; a cached file failing its checksum is
    reported through ``notify`` and fetched again.
    """
    if weights is not None:
        path = Path(weights)
        if not path.is_file():
            raise ResnetError(f"weights file not found: {path}")
        return path
    if (path := bundled_path(model)) is not None:
        return path
    problem = verify_cached(model)
    if problem is None:
        return cached_path(model)
    if problem != "not cached":
        notify(f"cached weights {cached_path(model)}: {problem}; fetching again")
    return fetch(model, force=True, progress=progress, notify=notify)


def bundled_record(model: str) -> dict[str, Any] | None:
    path = BUNDLED_DIR / f"{canonical_name(model)}.json"
    return json.loads(path.read_text()) if path.is_file() else None


def status(model: str) -> dict[str, Any]:
    """What ``resnet weights list`` shows for one model."""
    model = canonical_name(model)
    if (path := bundled_path(model)) is not None:
        record = bundled_record(model) or {}
        return {"model": model, "source": "bundled", "checksum": "sha256:" +
                record.get("sha256", ""), "size": path.stat().st_size, "cached": True,
                "path": str(path)}
    found = sources(model)
    path = cached_path(model)
    return {
        "model": model,
        "source": ", ".join(s.kind for s in found) or "none",
        "checksum": ", ".join(f"{s.algorithm}:{s.checksum}" for s in found),
        "size": path.stat().st_size if path.is_file() else None,
        "cached": path.is_file(),
        "path": str(path),
    }


def all_models() -> list[str]:
    return sorted(set(models.ZOO_MODELS) | set(models.OWN_RESNETS))


