"""Expand command-line arguments (files, folders, ``-`` for stdin) into image paths.

Folders are walked recursively in sorted order, so two runs list files identically.  A
problem with one argument (missing path, unreadable folder, symlink loop) becomes a
``Source`` carrying an error, which the engine reports as that input's record.
"""

from __future__ import annotations

import fnmatch
import os
from collections.abc import Iterable, Iterator
from typing import BinaryIO

from resnet_cli import remote
from resnet_cli.records import Source

IMAGE_EXTENSIONS = frozenset({
    ".jpg", ".jpeg", ".jpe", ".jfif", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp",
    ".ppm", ".pgm", ".pbm", ".pnm", ".tga", ".ico",
})


def read_paths(stream: BinaryIO, null: bool) -> Iterator[str]:
    """Paths from a byte stream, one per line or NUL-separated, read as they arrive.

    Undecodable bytes survive through ``os.fsdecode`` (surrogate escapes).
    """
    sep = b"\0" if null else b"\n"
    pending = b""
    for chunk in iter(lambda: stream.read1(65536), b""):
        pending += chunk
        *items, pending = pending.split(sep)
        yield from _nonempty(items, null)
    yield from _nonempty([pending], null)


def _nonempty(items: list[bytes], null: bool) -> Iterator[str]:
    for item in items:
        if not null:
            item = item.removesuffix(b"\r")
        if item:
            yield os.fsdecode(item)


def matches(name: str, pattern: str | None) -> bool:
    if pattern is not None:
        return fnmatch.fnmatch(name, pattern)
    return os.path.splitext(name)[1].lower() in IMAGE_EXTENSIONS


def walk(folder: str, pattern: str | None, ancestors: frozenset[str] = frozenset()
         ) -> Iterator[Source]:
    """Matching files under ``folder``, depth first, names sorted; errors as Sources."""
    real = os.path.realpath(folder)
    if real in ancestors:
        yield Source(folder, "symlink loop: folder contains itself")
        return
    try:
        with os.scandir(folder) as it:
            entries = sorted(it, key=lambda e: e.name)
    except OSError as exc:
        yield Source(folder, f"cannot read folder: {exc.strerror or exc}")
        return
    inside = ancestors | {real}
    for entry in entries:
        path = entry.path
        try:
            is_dir = entry.is_dir()
        except OSError:
            is_dir = False
        if is_dir:
            yield from walk(path, pattern, inside)
        elif matches(entry.name, pattern):
            yield Source(path)


def expand(args: Iterable[str], pattern: str | None = None,
           stdin: BinaryIO | None = None, null: bool = False) -> Iterator[Source]:
    """Sources for every argument in order.

    ``-`` reads paths from ``stdin``; each is one input taken literally (as ``find`` prints
    files), so a folder listed there is reported rather than walked.  URL arguments are
    expanded by ``remote`` (a prefix is walked like a folder).
    """
    for arg in args:
        if arg == "-" and stdin is not None:
            yield from (Source(path) for path in read_paths(stdin, null))
        elif remote.is_url(arg):
            remote.check_available()
            found = remote.expand_url(arg, lambda name: matches(name, pattern))
            yield from (Source(url, error) for url, error in found)
        elif os.path.isdir(arg):
            yield from walk(arg, pattern)
        elif os.path.lexists(arg):
            yield Source(arg)  # named explicitly: classify whatever its extension
        else:
            yield Source(arg, "no such file or folder")
