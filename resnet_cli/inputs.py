"""Expand command-line arguments (files, folders, ``-`` for stdin) into image paths.

Folders are walked recursively in sorted order, so two runs list files identically.  A
problem with one argument (missing path, unreadable folder, symlink loop) becomes a
``Source`` carrying an error, which the engine reports as that input's record.
"""

from __future__ import annotations

import fnmatch
import functools
import os
from collections.abc import Iterable, Iterator
from typing import BinaryIO

from resnet_cli import remote
from resnet_cli.records import Source

NO_IMAGES = "no images found"


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


@functools.cache
def image_extensions() -> frozenset[str]:
    """Extensions of every format this Pillow decodes, as its plugins register them.

    Left out: stubs that need a handler Pillow lacks (HDF5, GRIB, BUFR, WMF), formats it
    only writes (PDF) and MPEG, which Pillow identifies but never decodes.  MPO has no
    opener of its own: the JPEG opener returns MPO images.
    """
    from PIL import Image, ImageFile

    from resnet_cli.decode import register_formats

    register_formats()  # HEIC/HEIF from pillow-heif
    registered = Image.registered_extensions()  # loads every plugin first
    readable = {fmt for fmt, (factory, _accept) in Image.OPEN.items()
                if not (isinstance(factory, type)
                        and issubclass(factory, ImageFile.StubImageFile))}
    readable = (readable | {"MPO"}) - {"MPEG"}
    return frozenset(ext for ext, fmt in registered.items() if fmt in readable)


def matches(name: str, pattern: str | None) -> bool:
    if pattern is not None:
        return fnmatch.fnmatch(name, pattern)
    return os.path.splitext(name)[1].lower() in image_extensions()


def stdin_hint(null: bool) -> str:
    """What a person at a terminal is told when ``-`` makes the tool wait for paths."""
    separator = "NUL-separated" if null else "one per line"
    return f"reading image paths from stdin ({separator}); end with Ctrl-D"


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
            yield from _or_none_found(arg, (Source(path) for path in read_paths(stdin, null)))
        elif remote.is_url(arg):
            remote.check_available()
            found = remote.expand_url(arg, lambda name: matches(name, pattern))
            yield from _or_none_found(arg, (Source(url, error) for url, error in found), pattern)
        elif os.path.isdir(arg):
            yield from _or_none_found(arg, walk(arg, pattern), pattern)
        elif os.path.lexists(arg):
            yield Source(arg)  # named explicitly: classify whatever its extension
        else:
            yield Source(arg, "no such file or folder")


def _or_none_found(arg: str, sources: Iterator[Source], pattern: str | None = None
                   ) -> Iterator[Source]:
    """``sources``, or one error record for ``arg`` when it yields nothing at all."""
    empty = True
    for source in sources:
        empty = False
        yield source
    if empty:
        what = "no paths on stdin" if arg == "-" else (
            f"no file matches {pattern!r}" if pattern else "no file with an image extension")
        yield Source(arg, f"{NO_IMAGES} ({what})")
