"""Decoding budgets, checked from an image's header before a single pixel is decoded.

A header is a promise about how much memory decoding will take; a 7 KB file can promise
gigabytes.  Every decoder (Pillow here, a shrink-on-load decoder elsewhere) asks
:func:`refusal` with the size and mode it is about to allocate, so the memory a run needs
is bounded by the images in flight, whatever their headers say.  Dependency-free on
purpose: callers pass what they read, this module only does the arithmetic.
"""

from __future__ import annotations

MAX_ASPECT = 64
"""Longer side over shorter side: a 1x100000 strip would need gigabytes once resized."""

MAX_PIXELS = 89_478_485
"""Pillow's own decompression-bomb limit (about 0.25 GiB of 24-bit pixels), kept."""

MAX_DECODE_BYTES = 512 * 2**20
"""Decoded pixels plus their RGB conversion, per image being decoded."""

# Bytes per pixel as Pillow stores each mode in memory: 8-bit modes take one byte, 16-bit
# gray two, and every other mode (RGB included) a 32-bit word per pixel.
_STORAGE = {"1": 1, "L": 1, "P": 1, "I;16": 2, "I;16L": 2, "I;16B": 2, "I;16N": 2}
_RGB = 4


def bytes_per_pixel(mode: str) -> int:
    """Memory per pixel of a decoded image in ``mode`` (Pillow's layout; 4 if unknown)."""
    return _STORAGE.get(mode, 4)


def decode_bytes(width: int, height: int, mode: str) -> int:
    """Peak bytes to decode an image and convert it to RGB (both live at once)."""
    per_pixel = bytes_per_pixel(mode) + (0 if mode == "RGB" else _RGB)
    return width * height * per_pixel


def pixel_refusal(pixels: int, max_pixels: int = MAX_PIXELS) -> str | None:
    """The refusal of an image of ``pixels`` pixels (one wording for the header check and
    for Pillow's own bomb error), or None within the limit."""
    if pixels > max_pixels:
        return f"refused: image size ({pixels} pixels) exceeds limit of {max_pixels} pixels"
    return None


def refusal(width: int, height: int, mode: str = "RGB", max_bytes: int = MAX_DECODE_BYTES,
            max_pixels: int = MAX_PIXELS) -> str | None:
    """Why an image with this header must not be decoded, or None if it fits the budget."""
    if width <= 0 or height <= 0:
        return f"refused: image has no pixels ({width}x{height})"
    if max(width, height) > MAX_ASPECT * min(width, height):
        return f"aspect ratio of {width}x{height} is too extreme (over {MAX_ASPECT}:1)"
    if too_many := pixel_refusal(width * height, max_pixels):
        return too_many
    needed = decode_bytes(width, height, mode)
    if needed > max_bytes:
        return (f"refused: decoding {width}x{height} {mode} needs {needed / 2**20:.0f} MiB, "
                f"over the {max_bytes / 2**20:.0f} MiB budget")
    return None
