"""Inputs named by fsspec URLs (``s3://``, ``gs://``, ``http(s)://``, ``file://``, ``memory://``).

A URL argument ending in ``/`` (or naming a prefix that the store reports as a directory)
is walked like a folder: one level listed at a time, names sorted, the same extension rules;
any other URL is one input.  The bytes are read by whoever decodes the image (a preprocessing
thread, or a cluster worker), at most ``MAX_BYTES`` of them, with the network timeout of
``$RESNET_TIMEOUT``.  A missing object, a refused request or a timeout becomes that input's
one-line error; credentials come from each backend's usual places (environment, config
files) and never appear in a message.  fsspec is imported only when a URL is seen.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

from resnet_cli import settings
from resnet_cli.errors import InputError, ResnetError

MAX_BYTES = 64 * 2**20  # far above any photo; a bigger object is refused unread
_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
_INSTALL = "URL inputs need fsspec and its backends: pip install 'resnet-cli[remote]'"


def is_url(path: str) -> bool:
    return _URL.match(path) is not None


def storage_options(protocol: str, timeout: float) -> dict[str, Any]:
    """Timeouts per backend, and no listing cache, so a long walk keeps memory flat."""
    if protocol in ("http", "https"):
        import aiohttp

        return {"client_kwargs": {"timeout": aiohttp.ClientTimeout(
            sock_connect=timeout, sock_read=timeout)}, "use_listings_cache": False}
    if protocol in ("s3", "s3a"):
        return {"config_kwargs": {"connect_timeout": timeout, "read_timeout": timeout,
                                  "retries": {"max_attempts": 2}},
                "use_listings_cache": False}
    if protocol in ("gs", "gcs"):
        return {"timeout": timeout, "use_listings_cache": False}
    return {}


def filesystem(url: str) -> tuple[Any, str]:
    """The fsspec filesystem for ``url`` and the path inside it; InputError if unusable."""
    try:
        import fsspec
    except ImportError:
        raise InputError(_INSTALL) from None
    protocol = url.split("://", 1)[0].lower()
    try:
        return fsspec.core.url_to_fs(url, **storage_options(protocol, settings.current().timeout))
    except ImportError as exc:  # e.g. s3fs not installed for s3://
        raise InputError(f"{protocol}:// needs {exc.name or 'its fsspec backend'}: "
                         f"pip install 'resnet-cli[remote]'") from None
    except ValueError as exc:
        raise InputError(one_line(exc)) from None


def check_available() -> None:
    """Fail the whole run early (exit 2) when URLs are given but fsspec is missing."""
    try:
        import fsspec  # noqa: F401
    except ImportError:
        raise ResnetError(_INSTALL) from None


def fetch(url: str, limit: int = MAX_BYTES) -> bytes:
    """The object's bytes (at most ``limit``), or InputError with a one-line reason."""
    fs, path = filesystem(url)
    data = guarded(lambda: fs.cat_file(path, start=0, end=limit + 1))
    if len(data) > limit:
        raise InputError(f"larger than the {limit // 2**20} MiB limit for one image")
    return data


def guarded(call: Callable[[], Any]) -> Any:
    """Run a storage call, turning its failures into InputError with a short reason."""
    try:
        return call()
    except FileNotFoundError:
        raise InputError("no such object") from None
    except PermissionError:
        raise InputError("access denied") from None
    except TimeoutError:
        raise InputError(f"timed out after {settings.current().timeout:g} s") from None
    except InputError:
        raise
    except Exception as exc:  # every backend has its own errors; none may end the run
        raise InputError(describe(exc)) from None


def describe(exc: BaseException) -> str:
    """A backend error in one line: HTTP status words where there is one."""
    status = getattr(exc, "status", None) or getattr(exc, "code", None)
    if status in (401, 403):
        return "access denied"
    if status == 404:
        return "no such object"
    if "timeout" in type(exc).__name__.lower():
        return f"timed out after {settings.current().timeout:g} s"
    return one_line(exc)


def one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


def expand_url(url: str, matches: Callable[[str], bool]) -> Iterator[tuple[str, str | None]]:
    """``(url, error)`` pairs: the objects under a prefix, or ``url`` itself as one input."""
    try:
        fs, path = filesystem(url)
    except InputError as exc:
        yield url, str(exc)
        return
    protocol = url.split("://", 1)[0]
    prefix = url.endswith("/") or (
        protocol not in ("http", "https") and _quiet(lambda: fs.isdir(path)))
    if not prefix:
        yield url, None
        return
    found = False
    for item in _walk(fs, path, matches, url):
        found = True
        yield item
    if not found and not _quiet(lambda: fs.exists(path)):
        yield url, "no such file or folder"


def _quiet(call: Callable[[], bool]) -> bool:
    """A yes/no question to the store; an error there means no (reading reports it)."""
    try:
        return bool(call())
    except Exception:
        return False


def _walk(fs: Any, path: str, matches: Callable[[str], bool], shown: str
          ) -> Iterator[tuple[str, str | None]]:
    """Depth first, one listing per level, entries sorted by name like ``inputs.walk``.

    ``shown``: how the folder is named in its error record, if it cannot be listed.
    """
    try:
        entries = guarded(lambda: fs.ls(path, detail=True))
    except InputError as exc:
        yield shown, f"cannot list: {exc}"
        return
    named = sorted(((_name(e["name"]), e) for e in entries), key=lambda pair: pair[0])
    for name, entry in named:
        if entry["name"].rstrip("/") == path.rstrip("/"):
            continue  # some stores list the prefix itself
        if entry.get("type") == "directory":
            yield from _walk(fs, entry["name"], matches, fs.unstrip_protocol(entry["name"]))
        elif matches(name):
            yield fs.unstrip_protocol(entry["name"]), None


def _name(path: str) -> str:
    return path.rstrip("/").rsplit("/", 1)[-1]
