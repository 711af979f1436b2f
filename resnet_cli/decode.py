"""Open images of every format we read and decode them no larger than the resize needs.

A 12 MP phone JPEG fully decoded and resized costs ~190 ms; the model needs ~5 core-ms.
Shrink-on-load decodes such photos at the smallest scale whose shorter side still reaches
twice the resize target: libjpeg-turbo's DCT scaling (Pillow's ``draft``, 1/2, 1/4 or 1/8)
for JPEG, then an integer box ``reduce`` for whatever is still at least four times too
large, down to twice the target (HEIC, AVIF, WebP and PNG have no scaled decoding in Pillow).
The same bilinear resize follows (on the decoded pixels' true extent, before the lossless
EXIF turn), then the same crop and normalization. Images under 64x the target's square
(4.2 MP for 256) are decoded exactly as before, so they give bit-identical tensors.

A shrunk decode is not the exact one, and on a close call that can change the answer: on
1,000 photos of 12 MP, SqueezeNet's top-1 changed on 22, all coin tosses (top-1 minus top-2
probability under 0.08, most under 0.02). So ``fast`` settles close calls: a shrunk photo
whose top two classes are less than ``CLOSE_CALL`` apart is decoded again at full size and
classified on that (engine.py). ``draft`` skips that step, ``exact`` never shrinks.

HEIC/HEIF come from pillow-heif (its primary image), AVIF from Pillow itself. The
decoding budgets (budget.py) are checked on the header before any of this.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:  # Pillow is imported by the functions: the CLI reads RESIZE_MODES only
    from PIL import Image

ResizeMode = Literal["fast", "draft", "exact"]
RESIZE_MODES: tuple[ResizeMode, ...] = ("fast", "draft", "exact")
DEFAULT_RESIZE: ResizeMode = "fast"
CLOSE_CALL = 0.02
"""``fast`` decodes a shrunk photo again at full size when its top-1 and top-2 probabilities
are closer than this. On the 1,000 photos of 12 MP (benchmarks/real_photos.py) it re-decoded
5.6% of them and left 5 top-1 changes of 22 (0.01: 3.2% and 9 left; 0.04: 10.4% and 2)."""
SHRINK_FROM = 2  # shorter side at least twice the resize target, and
SHRINK_PIXELS = 64  # at least 64x its square's pixels (4.2 MP for 256): phone photos

ORIENTATION = 0x0112
_registered = False


def register_formats() -> None:
    """Teach Pillow HEIC/HEIF (pillow-heif), once; AVIF is Pillow's own since 11.3."""
    global _registered
    if not _registered:
        from pillow_heif import register_heif_opener

        register_heif_opener(thumbnails=False)
        _registered = True


def shrinks(size: tuple[int, int], target: int | None) -> bool:
    """Whether the fast path decodes this image shrunk.

    Only large images, where the full decode costs over ~60 ms: every ImageNet photo (the
    sample's largest is 2400x1600, 3.8 MP) keeps the exact path, 5 MP and up shrink.
    """
    return (target is not None and min(size) >= SHRINK_FROM * target
            and size[0] * size[1] >= SHRINK_PIXELS * target * target)


def orientation(img: Image.Image) -> int:
    """The EXIF orientation (1-8) from the header; HEIF's own rotation is already applied
    by libheif, which pillow-heif reports as 1."""
    return img.getexif().get(ORIENTATION, 1)


def draft(img: Image.Image, target: int) -> tuple[float, float]:
    """Before ``load``: let the decoder scale down (JPEG DCT scaling) to >= twice ``target``.

    Twice, as Pillow's own ``thumbnail`` does (``reducing_gap=2``): on the 1,000 sample
    photos upscaled to 12 MP, decoding a 4032x3024 JPEG at 1/4 rather than 1/8 changed
    SqueezeNet's top-1 on 2.2% of them instead of 3.7% (top-1 accuracy -0.3 points instead
    of -0.8) for ~6 ms more per photo (benchmarks/real_photos.py).
    Returns the true extent of the pixels it will decode: fractional when the scale does not
    divide the size (the last block is partial). Formats without scaled decoding: the size.
    """
    scaled = img.draft(None, (SHRINK_FROM * target, SHRINK_FROM * target))
    return (scaled[1][2], scaled[1][3]) if scaled else img.size


def reduce(img: Image.Image, target: int, extent: tuple[float, float]
           ) -> tuple[Image.Image, tuple[float, float]]:
    """After decoding: integer box reduce while the shorter side stays >= twice ``target``.

    The bilinear resize after it then still shrinks by 2x or more, which keeps its result
    close to a direct resize (Pillow's ``reducing_gap=2``); a reduce to just above the
    target flipped close calls (box filter vs. the wider bilinear one).
    """
    factor = int(min(extent) // (SHRINK_FROM * target))
    if factor < 2:
        return img, extent
    return img.reduce(factor), (extent[0] / factor, extent[1] / factor)


def upright(img: Image.Image, orientation: int) -> Image.Image:
    """Turn ``img`` as its EXIF orientation says (the table of ImageOps.exif_transpose)."""
    from PIL.Image import Transpose

    method = {2: Transpose.FLIP_LEFT_RIGHT, 3: Transpose.ROTATE_180,
              4: Transpose.FLIP_TOP_BOTTOM, 5: Transpose.TRANSPOSE, 6: Transpose.ROTATE_270,
              7: Transpose.TRANSVERSE, 8: Transpose.ROTATE_90}.get(orientation)
    return img if method is None else img.transpose(method)
