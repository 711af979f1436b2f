"""Development data beside the checkout (read-only, present in CI), named once for the
benchmarks and the tests: ``../shared/data/imagenet-sample`` holds 1000 ImageNet JPEGs, one
per class, named ``WNID_name.JPEG``."""

from __future__ import annotations

import atexit
import random
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT.parent / "shared" / "data" / "imagenet-sample"
PHOTOS = ROOT / "tests" / "data"


def image_folder(requested: Path | None, count: int) -> Path:
    """The images to measure on: ``requested``, else the ImageNet sample, else ``count``
    images made from the photos in tests/data (a new user has no ../shared), said on
    stderr, since accuracy figures on those are not ImageNet's."""
    if requested is not None:
        return requested
    if SAMPLE.is_dir():
        return SAMPLE
    folder = made_images(count)
    print(f"{SAMPLE} not found: measuring on {count} images made from the photos in "
          f"{PHOTOS} (crops, flips, sizes) in {folder}; speed figures hold, accuracy "
          f"figures are not ImageNet's", file=sys.stderr)
    return folder


def made_images(count: int) -> Path:
    """``count`` distinct JPEGs cut from the test photos: random crops of 50-100% of the
    side, mirrored half the time, shorter side 256-512; the same every run (seeded).
    The folder is removed when the benchmark exits."""
    from PIL import Image, ImageOps

    rng = random.Random(0)
    photos = [Image.open(p).convert("RGB") for p in sorted(PHOTOS.iterdir())
              if p.suffix in (".png", ".jpg")]
    folder = Path(tempfile.mkdtemp(prefix="resnet-bench-images-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    for i in range(count):
        photo = photos[i % len(photos)]
        w, h = photo.size
        side = int(min(w, h) * rng.uniform(0.5, 1.0))
        left, top = rng.randrange(w - side + 1), rng.randrange(h - side + 1)
        image = photo.crop((left, top, left + side, top + side))
        image = ImageOps.mirror(image) if rng.random() < 0.5 else image
        size = rng.randrange(256, 513)
        image.resize((size, size), Image.BILINEAR).save(folder / f"made_{i:05d}.jpg",
                                                        quality=90)
    return folder


def cpu_model() -> str:
    """The CPU's model name, to quote with every figure (sessions get different CPUs)."""
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return "unknown CPU"
