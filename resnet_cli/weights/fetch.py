"""Getting weights into the cache: download and verify, import a local file, or locate
the file to load (``--weights``, the bundled file, the verified cache, else a fetch).

Sources are tried in the spec's order: the Gluon model-zoo zip (its ``.params`` verified
by the published SHA-1), then for ResNet-18/34 the torchvision ``.pth`` (verified by the
SHA-256 prefix in its name) converted to the Gluon layout.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import shutil
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path

from resnet_cli import registry
from resnet_cli.download import DownloadError, download
from resnet_cli.errors import ResnetError
from resnet_cli.registry import BUNDLED_MODEL, WeightFile
from resnet_cli.weights import cache, catalog
from resnet_cli.weights.cache import State

Notify = Callable[[str], None]
TORCHVISION_NAME = re.compile(r"^[\w.]+-([0-9a-f]{8,64})\.pth$")


def quiet(_message: str) -> None:
    """Default notifier: say nothing."""


def _params_from_download(model: str, source: WeightFile, tmp: Path) -> Path:
    """Verify a downloaded file and turn it into a temporary Gluon ``.params``."""
    where = catalog.url(source)
    if source.kind == "gluon-zoo":
        member = source.filename.removesuffix(".zip") + ".params"
        try:
            with zipfile.ZipFile(tmp) as archive:
                data = archive.read(member)
        except (zipfile.BadZipFile, KeyError):
            raise DownloadError(f"{where}: not a zip holding {member}") from None
        actual = hashlib.sha1(data).hexdigest()
        if actual != source.checksum:
            raise DownloadError(f"{where}: SHA-1 {actual} is not the published "
                                f"{source.checksum}")
        tmp.write_bytes(data)
        return tmp
    actual = cache.sha256_file(tmp)
    if not actual.startswith(source.checksum):
        raise DownloadError(f"{where}: SHA-256 {actual[:16]}... does not start with "
                            f"{source.checksum} (the hash in its name)")
    return _convert_torch(model, tmp, "pth")


def _convert_torch(model: str, path: Path, fmt: str) -> Path:
    """A torchvision/timm ResNet state dict as a temporary Gluon ``.params`` in the cache."""
    from resnet_cli import params
    from resnet_cli.convert import torchvision_to_gluon
    from resnet_cli.torch_formats import read_pth, read_safetensors

    if not registry.get(model).converts_torchvision:
        convertible = [s.name for s in registry.MODELS.values() if s.converts_torchvision]
        raise ResnetError(f"torch weights convert only to {', '.join(convertible)}")
    state = read_pth(path) if fmt == "pth" else read_safetensors(path)
    try:
        converted = torchvision_to_gluon(state)
    except ResnetError as exc:
        raise ResnetError(f"{path}: {exc}") from None
    return cache.temporary(model, "convert", lambda out: params.save(converted, out))


def fetch(model: str, force: bool = False, progress: bool = False,
          notify: Notify = quiet) -> Path:
    """Download, verify and cache ``model``'s weights; the cached path."""
    spec = registry.get(model)  # unknown names fail before any network access
    model = spec.name
    if not spec.sources:
        raise ResnetError(f"no download source for {model}")
    with cache.writing(), cache.lock(model):
        cache.remove_stale(model)
        if not force and cache.check(model, full=True).state is State.VALID:
            return cache.cached_path(model)  # another process fetched it while we waited
        failures = []
        for source in spec.sources:
            try:
                if progress:
                    notify(f"fetching {model} weights from {catalog.url(source)}")
                tmp = download(catalog.url(source), cache.cache_dir(), progress,
                               cache.temporary_prefix(model, "download"))
                result = tmp
                try:
                    result = _params_from_download(model, source, tmp)
                    provenance = {"source": catalog.url(source), "kind": source.kind,
                                  "source_" + source.algorithm.replace("-", "_"):
                                      source.checksum}
                    return cache.install(model, result, provenance)
                finally:  # whatever was not moved into place goes
                    tmp.unlink(missing_ok=True)
                    result.unlink(missing_ok=True)
            except (DownloadError, ResnetError) as exc:
                failures.append(str(exc))
    raise ResnetError(
        f"cannot fetch weights for {model} ({'; '.join(failures)}). Cache: "
        f"{cache.cached_path(model)}. Offline? Get the file elsewhere and run "
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


@contextlib.contextmanager
def loadable(model: str, path: Path) -> Iterator[Path]:
    """``path`` as a Gluon ``.params`` to load: a ``.pth`` or ``.safetensors`` is converted
    the way ``import_file`` does (no torch, no code run) into a temporary file, removed after."""
    fmt = detect_format(path)
    if fmt == "params":
        yield path
        return
    converted = _convert_torch(registry.get(model).name, path, fmt)
    try:
        yield converted
    finally:
        converted.unlink(missing_ok=True)


def name_mismatch(path: Path, sha256: str) -> str | None:
    """Why a file named like torchvision's (``resnet18-f37072fd.pth``) is not the file its
    name promises, or None: torchvision names carry their SHA-256's first hex digits."""
    match = TORCHVISION_NAME.match(path.name)
    if match is None or sha256.startswith(match.group(1)):
        return None
    return (f"{path.name}: its SHA-256 starts {sha256[:len(match.group(1))]}, not "
            f"{match.group(1)} as its name says: not the published file")


def import_file(path: Path, model: str, notify: Notify = quiet) -> Path:
    """Cache a local ``.params``, ``.pth`` or ``.safetensors`` as ``model``'s weights.

    A torchvision-named file whose hash disagrees with its name is imported with a
    warning through ``notify``; its real SHA-256 is recorded either way.
    """
    from resnet_cli import params

    model = registry.get(model).name
    if not path.is_file():
        raise ResnetError(f"no such file: {path}")
    fmt = detect_format(path)
    source_sha256 = cache.sha256_file(path)
    mismatch = name_mismatch(path, source_sha256)
    if mismatch is not None:
        notify(f"warning: {mismatch} (recording its real SHA-256 {source_sha256})")
    with cache.writing(), cache.lock(model):
        cache.remove_stale(model)
        if fmt == "params":
            tmp = cache.temporary(model, "import", lambda out: shutil.copyfile(path, out))
        else:
            tmp = _convert_torch(model, path, fmt)
        try:
            try:
                params.check_loads(model, tmp)
            except ResnetError as exc:  # name the user's file, not the temporary one
                raise ResnetError(f"{path} does not fit {model}: {exc.reason}") from None
            provenance = {"source": str(path.resolve()), "kind": f"import-{fmt}",
                          "source_sha256": source_sha256,
                          **({"warning": mismatch} if mismatch else {})}
            return cache.install(model, tmp, provenance)
        finally:
            tmp.unlink(missing_ok=True)


def locate(model: str, weights: str | os.PathLike[str] | None = None,
           progress: bool = False, notify: Notify = quiet) -> Path:
    """The ``.params`` to load: ``--weights``, the bundled file, or the (verified) cache.

    The cached file is hashed in full against its record each time; one that is not
    cached is fetched, one failing its checksum is reported through ``notify`` and
    fetched again.
    """
    if weights is not None:
        path = Path(weights)
        if not path.is_file():
            raise ResnetError(f"weights file not found: {path}")
        return path
    if (path := catalog.bundled_path(model)) is not None:
        return path
    found = cache.check(model, full=True)  # every byte, every load: see README
    if found.state is State.VALID:
        return cache.cached_path(model)
    if found.state is State.DAMAGED:
        notify(f"cached weights {cache.cached_path(model)}: {found.problem}; fetching again")
    # Not forced: a process that waited for the lock finds the file another one fetched.
    return fetch(model, progress=progress, notify=notify)
