"""What the benchmarks share: the development data beside the checkout (read-only, present
in CI; ``../shared/data/imagenet-sample`` holds 1000 ImageNet JPEGs, one per class, named
``WNID_name.JPEG``), a folder of its first N images, and one measured child process
(:func:`measured`). Standard library only at import: compare.py runs it in its own venv."""

from __future__ import annotations

import atexit
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

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


def first_images(source: Path, count: int, folder: Path) -> Path:
    """``folder``, made here, holding links to the first ``count`` files of ``source`` by
    name: a fixed slice of a folder without copying it."""
    folder.mkdir()
    for image in sorted(source.iterdir())[:count]:
        (folder / image.name).symlink_to(image.resolve())
    return folder


@dataclass(frozen=True)
class Measured:
    """One child process's run, from the kernel's accounting of that child alone."""

    stdout: str  # "" unless captured
    wall_s: float
    cpu_s: float  # user + system; steadier than wall on a machine others are loading too
    peak_rss_mib: float


def measured(cmd: list[str], env: dict[str, str] | None = None,
             stdin: IO[Any] | None = None, capture: bool = False,
             stderr: int | None = subprocess.DEVNULL) -> Measured:
    """Run ``cmd`` to its end (wait4: its own CPU time and peak RSS); a failed run ends
    the benchmark."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdin=stdin, stderr=stderr, text=True,
                            stdout=subprocess.PIPE if capture else subprocess.DEVNULL)
    out = proc.stdout.read() if capture else ""
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - start
    if (code := os.waitstatus_to_exitcode(status)) != 0:
        raise SystemExit(f"{' '.join(map(str, cmd))} failed with exit code {code}")
    return Measured(out, elapsed, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024)
