"""Decode any image Pillow reads into the NCHW float32 tensor ImageNet models expect.

Steps: decode, apply EXIF orientation, flatten any mode to RGB (alpha over white),
resize the shorter side to 256 (bilinear, aspect kept), center-crop 224, scale to [0, 1],
normalize with the ImageNet mean/std.  Numpy and Pillow only: no MXNet here, so worker
threads can run it while the model computes.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from resnet_cli.errors import InputError

MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)
_MEAN = np.array(MEAN, dtype=np.float32)
_STD = np.array(STD, dtype=np.float32)
_WHITE = (255, 255, 255)
MAX_ASPECT = 64


@dataclass(frozen=True)
class Preprocessing:
    resize: int = 256
    crop: int = 224

    def __call__(self, path: str | os.PathLike[str]) -> np.ndarray:
        """Read ``path`` and return a (3, crop, crop) float32 array; raise InputError."""
        return normalize(center_crop(resize_shorter(load_rgb(path), self.resize), self.crop))


def load_rgb(path: str | os.PathLike[str]) -> Image.Image:
    """Open, decode fully, orient by EXIF and convert to RGB, or raise InputError."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as img:
                img.load()
                ImageOps.exif_transpose(img, in_place=True)  # no copy when upright
                return to_rgb(img)
    except IsADirectoryError:
        raise InputError("is a directory") from None
    except FileNotFoundError:
        raise InputError("no such file") from None
    except PermissionError:
        raise InputError("permission denied") from None
    except UnidentifiedImageError:
        raise InputError("not an image Pillow can read") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise InputError(f"refused: {exc}".split(" could be")[0]) from None
    except (OSError, SyntaxError, ValueError) as exc:  # truncated or corrupt data
        raise InputError(f"cannot decode: {exc}") from None


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
    """16-bit or float gray to 'L': I;16 spans 0..65535, 'I' too once it exceeds 255, 'F' 0..1."""
    values = np.asarray(img, dtype=np.float64)
    peak = values.max(initial=0)
    if img.mode.startswith("I;16") or (img.mode == "I" and peak > 255):
        values = values / 257.0
    elif img.mode == "F" and peak <= 1.0:
        values = values * 255.0
    return Image.fromarray(np.clip(np.rint(values), 0, 255).astype(np.uint8), "L")


def resize_shorter(img: Image.Image, size: int) -> Image.Image:
    """Scale so the shorter side is ``size``; the longer side is truncated like torchvision."""
    w, h = img.size
    new = (size, int(h * size / w)) if w <= h else (int(w * size / h), size)
    if max(new) > MAX_ASPECT * size:  # a 1x100000 strip would need gigabytes once resized
        raise InputError(f"aspect ratio of {w}x{h} is too extreme (over {MAX_ASPECT}:1)")
    if new == (w, h):
        return img
    return img.resize(new, Image.BILINEAR)


def center_crop(img: Image.Image, size: int) -> Image.Image:
    w, h = img.size
    if w < size or h < size:
        raise InputError(f"image {w}x{h} is smaller than the {size}x{size} crop")
    left, top = (w - size) // 2, (h - size) // 2
    return img.crop((left, top, left + size, top + size))


# Every uint8 value's normalized float32, per channel, computed with the same float32
# operations as (x / 255 - mean) / std: a table lookup gives identical results, faster.
_TABLE = np.ascontiguousarray(
    ((np.arange(256, dtype=np.float32)[:, None] / np.float32(255.0)) - _MEAN) / _STD).T


def normalize(img: Image.Image) -> np.ndarray:
    """HWC uint8 -> CHW float32, scaled to [0, 1] and standardized per channel."""
    pixels = np.asarray(img)
    out = np.empty((3, *pixels.shape[:2]), dtype=np.float32)
    for channel in range(3):
        np.take(_TABLE[channel], pixels[:, :, channel], out=out[channel])
    return out
