"""A failed decode becomes one line of text, and nothing else of it survives.

A decoder's exception holds its traceback, whose frames hold the half-decoded image (and
Pillow's ``raise ... from`` inside its own ``except`` blocks makes reference cycles that
only the garbage collector would free, long after many more images were decoded).
:func:`reason` words the exception for the record and clears those frames, so a failed
file costs no more memory than a good one.
"""

from __future__ import annotations

import re
import struct
import traceback

from PIL import Image, UnidentifiedImageError

from resnet_cli import budget
from resnet_cli.errors import InputError

_MAX_REASON = 200

# Exceptions Pillow's decoders raise for damaged or unsupported data (BLPFormatError is a
# NotImplementedError, DDS raises NotImplementedError for pixel formats it lacks).
_CORRUPT = (OSError, SyntaxError, ValueError, EOFError, struct.error, NotImplementedError,
            IndexError, KeyError, TypeError, ZeroDivisionError)


def reason(exc: BaseException) -> str:
    """One line saying why an input could not be decoded; releases what ``exc`` holds."""
    try:
        return _one_line(_word(exc))
    finally:
        release(exc)


def _word(exc: BaseException) -> str:
    if isinstance(exc, InputError):
        return str(exc)
    if isinstance(exc, IsADirectoryError):
        return "is a directory"
    if isinstance(exc, FileNotFoundError):
        return "no such file"
    if isinstance(exc, PermissionError):
        return "permission denied"
    if isinstance(exc, UnidentifiedImageError):
        return "not an image Pillow can read"
    if isinstance(exc, (Image.DecompressionBombError, Image.DecompressionBombWarning)):
        # Pillow errors at twice the limit it warns at: word both as the header budget does.
        pixels = re.search(r"\((\d+) pixels\)", str(exc))
        worded = pixels and budget.pixel_refusal(int(pixels.group(1)))
        return worded or f"refused: {exc}".split(", could be")[0]
    if isinstance(exc, MemoryError):
        return "refused: not enough memory to decode it"
    detail = str(exc) or type(exc).__name__
    if isinstance(exc, NotImplementedError):
        return f"cannot decode: unsupported variant: {detail}"
    if isinstance(exc, _CORRUPT):
        return f"cannot decode: {detail}"
    return f"cannot decode: {type(exc).__name__}: {detail}"  # a decoder bug, still one line


def _one_line(text: str) -> str:
    line = " ".join(text.split())
    return line if len(line) <= _MAX_REASON else line[: _MAX_REASON - 3] + "..."


def release(exc: BaseException) -> None:
    """Clear the frames of ``exc``'s traceback and of its causes, and unlink them."""
    seen: set[int] = set()
    pending: list[BaseException | None] = [exc]
    while pending:
        current = pending.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        pending += [current.__context__, current.__cause__]
        if current.__traceback__ is not None:
            traceback.clear_frames(current.__traceback__)
        current.__traceback__ = None
        current.__context__ = current.__cause__ = None
