"""Decode any image Pillow reads into the NCHW float32 tensor ImageNet models expect.

Steps: decode (shrunk on load when large, see decode.py), apply EXIF orientation, flatten
any mode to RGB (alpha over white), resize the shorter side to 256 (bilinear, aspect
kept), center-crop 224, scale to [0, 1], normalize with the ImageNet mean/std.  Numpy and
Pillow only: no MXNet here, so worker threads can run it while the model computes.
"""

from __future__ import annotations

import contextlib
import functools
import io
import os
import struct
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import BinaryIO, NamedTuple, TypeVar

import numpy as np
from PIL import Image, ImageOps

from resnet_cli import budget, decode, failures, files, remote
from resnet_cli.decode import DEFAULT_RESIZE, ResizeMode
from resnet_cli.errors import InputError
from resnet_cli.registry import IMAGENET_MEAN, IMAGENET_STD, ModelSpec

_WHITE = (255, 255, 255)
_BAD_EXIF = (struct.error, ValueError, OSError, SyntaxError, KeyError, IndexError, TypeError,
             AttributeError)
_BAND_PIXELS = 1 << 20  # 16-bit gray is scaled a band of rows at a time, never in one copy
Source = str | os.PathLike[str] | bytes  # a path, a URL, or a URL's bytes already fetched
_T = TypeVar("_T")


class Decoded(NamedTuple):
    """One input's tensor and, when ``fast`` decoded it shrunk, how to decode it exactly
    (called by the engine on a close call; see decode.CLOSE_CALL)."""

    tensor: np.ndarray
    exact: Callable[[], np.ndarray] | None = None


@dataclass(frozen=True)
class Preprocessing:
    """One model's input pipeline: resize the shorter side, center-crop, normalize."""

    resize: int = 256
    crop: int = 224
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD
    resize_mode: ResizeMode = DEFAULT_RESIZE  # see decode.py

    @classmethod
    def of(cls, spec: ModelSpec) -> Preprocessing:
        return cls(spec.resize, spec.crop, spec.mean, spec.std)

    def __call__(self, path: Source) -> np.ndarray:
        """Read ``path`` and return a (3, crop, crop) float32 array; raise InputError."""
        return self.decode(path).tensor

    def decode(self, path: Source) -> Decoded:
        """The tensor of ``path``, and its exact re-decode when ``fast`` shrank it.

        A URL is fetched once, here: its exact re-decode reads the same bytes, not the
        store again (and so not a version of the object that changed in between)."""
        path = _reworded(fetched, path)
        img, shrunk = _reworded(_decode, path,
                                None if self.resize_mode == "exact" else self.resize)
        tensor = self.image(img)
        if shrunk and self.resize_mode == "fast":
            return Decoded(tensor, functools.partial(replace(self, resize_mode="exact"), path))
        return Decoded(tensor)

    def image(self, img: Image.Image) -> np.ndarray:
        """An RGB image (already oriented) as a (3, crop, crop) float32 array."""
        cropped = center_crop(resize_shorter(img, self.resize), self.crop)
        return normalize(cropped, self.mean, self.std)


def load_rgb(path: Source, shrink_to: int | None = None) -> Image.Image:
    """Decode a regular file within the budget, orient by EXIF, convert to RGB.

    With ``shrink_to``, a large image (``decode.shrinks``) is decoded shrunk and comes back
    already resized to a shorter side of ``shrink_to`` (see ``load_shrunk``).
    Raises InputError with a one-line reason, and nothing else: the failed decode's
    frames and pixels are released before it is raised (see ``failures``).
    """
    return _reworded(_decode, path, shrink_to)[0]


def _reworded(read: Callable[..., _T], *args: object) -> _T:
    """``read(*args)``, its every failure worded once, in one place, as InputError."""
    try:
        return read(*args)
    except Exception as exc:
        why = failures.reason(exc)
    raise InputError(why)  # outside the except block: no __context__ to keep alive


def _decode(path: Source, shrink_to: int | None) -> tuple[Image.Image, bool]:
    """The RGB image, and whether it was decoded shrunk."""
    decode.register_formats()
    with opened(path) as stream, Image.open(stream) as img:
        refusal = budget.refusal(*img.size, img.mode)
        if refusal is not None:
            raise InputError(refusal)
        if decode.shrinks(img.size, shrink_to):
            return load_shrunk(img, shrink_to), True
        img.load()
        _orient(img)
        return to_rgb(img), False


def load_shrunk(img: Image.Image, size: int) -> Image.Image:
    """Decode scaled down, resize in the file's orientation, then turn upright (lossless).

    The resize maps the decoded pixels' true extent (fractional when the DCT scale does not
    divide the size: libjpeg pads the last block) onto the output, so the geometry matches
    the exact path's.
    """
    orientation = 1
    with contextlib.suppress(*_BAD_EXIF):  # as _orient: a damaged EXIF block is ignored
        orientation = decode.orientation(img)
    extent = decode.draft(img, size)
    img.load()
    rgb, extent = decode.reduce(to_rgb(img), size, extent)
    return decode.upright(resize_shorter(rgb, size, extent), orientation)


def fetched(path: Source) -> Source:
    """A URL's bytes (read here, by the decoding thread); any other source as it is."""
    return remote.fetch(path) if isinstance(path, str) and remote.is_url(path) else path


def opened(path: Source) -> BinaryIO:
    """A local regular file, or a URL's bytes."""
    source = fetched(path)
    return io.BytesIO(source) if isinstance(source, bytes) else files.open_regular(source)


def _orient(img: Image.Image) -> None:
    """Apply the EXIF orientation; a damaged EXIF block is ignored, not fatal."""
    with contextlib.suppress(*_BAD_EXIF):  # the pixels decoded fine: classify them as stored
        ImageOps.exif_transpose(img, in_place=True)  # no copy when upright


def to_rgb(img: Image.Image) -> Image.Image:
    """Any Pillow mode to RGB: alpha composited on white, 16/32-bit gray scaled to 8 bits."""
    if img.mode == "RGB":
        return img
    if img.mode == "P":
        img = img.convert("RGBA" if "transparency" in img.info else "RGB")
    if img.mode in ("I", "F") or img.mode.startswith("I;16"):
        img = gray_to_8bit(img)
    if img.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (*_WHITE, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return img.convert("RGB")


def gray_to_8bit(img: Image.Image) -> Image.Image:
    """16-bit or float gray to 'L': I;16 spans 0..65535, 'I' too once it exceeds 255, 'F' 0..1.

    Scaled a band of rows at a time, so a 9000x9000 16-bit PNG needs a few MiB on top of
    its pixels rather than four float64 copies of them.
    """
    peak = img.getextrema()[1]
    divide = img.mode.startswith("I;16") or (img.mode == "I" and peak > 255)
    out = np.empty((img.height, img.width), dtype=np.uint8)
    rows = max(1, _BAND_PIXELS // max(1, img.width))
    for top in range(0, img.height, rows):
        bottom = min(top + rows, img.height)
        band = np.asarray(img.crop((0, top, img.width, bottom)))
        if img.mode == "F":  # 0..1 scaled to 0..255, anything else clipped
            band = band.astype(np.float64)
            band = np.rint(band * 255.0 if peak <= 1.0 else band)
        elif divide:  # round(v / 257) in integers: 257 is odd, so v / 257 is never a tie
            band = (np.clip(band, 0, 65535).astype(np.uint32) + 128) // 257
        out[top:bottom] = np.clip(band, 0, 255)
    return Image.fromarray(out, "L")


def resize_shorter(img: Image.Image, size: int,
                   extent: tuple[float, float] | None = None) -> Image.Image:
    """Scale so the shorter side is ``size``; the longer side is truncated like torchvision.

    ``extent``: the image's true width and height in pixels when the last row/column is
    only partly covered (a scaled decode); only that region is mapped onto the output.
    """
    w, h = extent or img.size
    new = (size, int(h * size / w)) if w <= h else (int(w * size / h), size)
    if max(new) > budget.MAX_ASPECT * size:  # images given as pixels skip the header check
        raise InputError(budget.refusal(*img.size) or f"aspect ratio of {w}x{h} is too extreme")
    if extent is not None:
        return img.resize(new, Image.BILINEAR, box=(0, 0, w, h))
    if new == (w, h):
        return img
    return img.resize(new, Image.BILINEAR)


def center_crop(img: Image.Image, size: int) -> Image.Image:
    w, h = img.size
    if w < size or h < size:
        raise InputError(f"image {w}x{h} is smaller than the {size}x{size} crop")
    left, top = (w - size) // 2, (h - size) // 2
    return img.crop((left, top, left + size, top + size))


@functools.lru_cache(maxsize=8)
def _table(mean: tuple[float, ...], std: tuple[float, ...]) -> np.ndarray:
    """Every uint8 value's normalized float32, per channel, computed with the same float32
    operations as (x / 255 - mean) / std: a table lookup gives identical results, faster."""
    values = np.arange(256, dtype=np.float32)[:, None] / np.float32(255.0)
    mean32, std32 = np.array(mean, dtype=np.float32), np.array(std, dtype=np.float32)
    return np.ascontiguousarray(((values - mean32) / std32).T)


def normalize(img: Image.Image, mean: tuple[float, ...] = IMAGENET_MEAN,
              std: tuple[float, ...] = IMAGENET_STD) -> np.ndarray:
    """HWC uint8 -> CHW float32, scaled to [0, 1] and standardized per channel."""
    table = _table(mean, std)
    pixels = np.asarray(img)
    out = np.empty((3, *pixels.shape[:2]), dtype=np.float32)
    for channel in range(3):
        np.take(table[channel], pixels[:, :, channel], out=out[channel])
    return out
