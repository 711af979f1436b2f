"""Stream a URL into a temporary file beside its destination, with optional progress.

The caller verifies the checksum and renames the file into place, so a partial or wrong
download is never visible under the final name.
"""

from __future__ import annotations

import http.client
import os
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

from resnet_cli import __version__, settings

CHUNK = 1 << 20


class DownloadError(Exception):
    """One URL could not be fetched; the message is one line."""


def download(url: str, directory: Path, show_progress: bool = False) -> Path:
    """Fetch ``url`` into a new temporary file in ``directory`` and return its path."""
    directory.mkdir(parents=True, exist_ok=True)
    request = urllib.request.Request(url, headers={"User-Agent": f"resnet-cli/{__version__}"})
    fd, name = tempfile.mkstemp(dir=directory, prefix=".download-", suffix=".part")
    tmp = Path(name)
    try:
        with os.fdopen(fd, "wb") as out, \
                urllib.request.urlopen(request, timeout=settings.current().timeout) as response:
            expected = response.headers.get("Content-Length")
            total = int(expected) if expected and expected.isdigit() else None
            received = _copy(response, out, total, url.rsplit("/", 1)[-1], show_progress)
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
    except (TimeoutError, OSError, http.client.HTTPException) as exc:
        tmp.unlink(missing_ok=True)
        raise DownloadError(f"{url}: {_reason(exc)}") from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _reason(exc: object) -> str:
    if isinstance(exc, TimeoutError):
        return f"timed out after {settings.current().timeout:g} s without data"
    return str(exc) or type(exc).__name__


def _copy(response: http.client.HTTPResponse, out: object, total: int | None, label: str,
          show_progress: bool) -> int:
    received = 0
    if not show_progress:
        while chunk := response.read(CHUNK):
            out.write(chunk)
            received += len(chunk)
        return received
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
        while chunk := response.read(CHUNK):
            out.write(chunk)
            received += len(chunk)
            progress.advance(task, len(chunk))
    return received
