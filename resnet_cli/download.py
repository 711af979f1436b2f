"""Stream a URL into a temporary file beside its destination, with optional progress.

The caller verifies the checksum and renames the file into place, so a partial or wrong
download is never visible under the final name.  A download is bounded in time and size:
each wait for data by ``RESNET_TIMEOUT``, the whole transfer by ``RESNET_DEADLINE`` (a
server dripping a byte a second is abandoned), and the body by the size it declared, or
by :data:`MAX_BYTES` when it declares none (an endless response cannot fill the disk).
"""

from __future__ import annotations

import contextlib
import http.client
import os
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO

from resnet_cli import __version__, settings

CHUNK = 1 << 20
MAX_BYTES = 1 << 30  # the largest zoo file (VGG-19 with BN) is about 550 MB


class DownloadError(Exception):
    """One URL could not be fetched; the message is one line."""


def download(url: str, directory: Path, show_progress: bool = False,
             prefix: str = ".download-") -> Path:
    """Fetch ``url`` into a new temporary file in ``directory`` and return its path."""
    directory.mkdir(parents=True, exist_ok=True)
    request = urllib.request.Request(url, headers={"User-Agent": f"resnet-cli/{__version__}"})
    fd, name = tempfile.mkstemp(dir=directory, prefix=prefix, suffix=".part")
    tmp = Path(name)
    config = settings.current()
    deadline = time.monotonic() + config.deadline
    try:
        with os.fdopen(fd, "wb") as out, \
                urllib.request.urlopen(request, timeout=config.timeout) as response:
            expected = response.headers.get("Content-Length")
            total = int(expected) if expected and expected.isdigit() else None
            if total is not None and total > MAX_BYTES:
                raise DownloadError(f"{url}: declares {total} bytes, more than the "
                                    f"{MAX_BYTES} a weights file may have")
            with _progress(url.rsplit("/", 1)[-1], total, show_progress) as advance:
                received = _copy(response, out, _Limits(url, total or MAX_BYTES, deadline),
                                 advance)
        if total is not None and received != total:
            raise DownloadError(f"{url}: truncated, got {received} of {total} bytes")
        return tmp
    except urllib.error.HTTPError as exc:
        tmp.unlink(missing_ok=True)
        raise DownloadError(f"{url}: HTTP {exc.code} {exc.reason}") from None
    except urllib.error.URLError as exc:
        tmp.unlink(missing_ok=True)
        raise DownloadError(f"{url}: cannot connect ({_reason(exc.reason)})") from None
    except http.client.IncompleteRead as exc:
        tmp.unlink(missing_ok=True)
        raise DownloadError(f"{url}: truncated, connection closed after "
                            f"{len(exc.partial)} more bytes") from None
    except (TimeoutError, OSError, http.client.HTTPException, ValueError) as exc:
        tmp.unlink(missing_ok=True)
        raise DownloadError(f"{url}: {_reason(exc)}") from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


class _Limits:
    """Where a transfer must stop: past ``size`` bytes, or at the ``deadline``."""

    def __init__(self, url: str, size: int, deadline: float) -> None:
        self.url, self.size, self.deadline = url, size, deadline

    def check(self, received: int) -> None:
        if received > self.size:
            raise DownloadError(f"{self.url}: sent more than the expected {self.size} bytes")
        if time.monotonic() > self.deadline:
            raise DownloadError(f"{self.url}: not finished after "
                                f"{settings.current().deadline:g} s (RESNET_DEADLINE), "
                                f"{received} bytes received")


def _reason(exc: object) -> str:
    if isinstance(exc, TimeoutError):
        return f"timed out after {settings.current().timeout:g} s without data"
    return str(exc) or type(exc).__name__


def _copy(response: http.client.HTTPResponse, out: BinaryIO, limits: _Limits,
          advance: Callable[[int], object]) -> int:
    # read1: return what one receive brings, so the limits are checked as data drips in
    # (read(n) would wait for n bytes, however slowly they come).
    received = 0
    while chunk := response.read1(CHUNK):
        received += len(chunk)
        limits.check(received)
        out.write(chunk)
        advance(len(chunk))
    return received


@contextlib.contextmanager
def _progress(label: str, total: int | None, show: bool) -> Iterator[Callable[[int], object]]:
    """A callback advancing a transient progress bar on stderr (or doing nothing)."""
    if not show:
        yield lambda _n: None
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

    columns = (TextColumn(label), BarColumn(), DownloadColumn(), TransferSpeedColumn(),
               TimeRemainingColumn())
    with Progress(*columns, console=Console(stderr=True), transient=True) as progress:
        task = progress.add_task(label, total=total)
        yield lambda n: progress.advance(task, n)
