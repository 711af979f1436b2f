"""Which library should shrink 12 MP JPEGs on load: speed, accuracy and memory per decoder.

Run:  .venv/bin/python benchmarks/jpeg_decoders.py [--count 16]
      (needs the photos made by benchmarks/real_photos.py; optional: pip install simplejpeg
      pyvips pyvips-binary PyTurboJPEG; a library that is absent is reported and skipped)

Every candidate decodes at its smallest DCT scale whose shorter side is still >= 2 x 256
(1/4 for 4032x3024, as resnet's fast path), applies the EXIF orientation, and then goes
through the same Pillow bilinear resize, crop and normalize, so only the decoder differs:
- pillow-draft: Pillow's ``draft`` (libjpeg-turbo scaling; what resnet uses);
- simplejpeg:   ``decode_jpeg(min_width, min_height)`` (bundled libjpeg-turbo);
- pyvips:       ``jpegload shrink=`` (libvips + its bundled libjpeg-turbo);
- turbojpeg:    PyTurboJPEG ``decode(scaling_factor=)`` (needs the system libturbojpeg).
Each runs in its own child process over the same files, one thread: process CPU ms per photo
(median), mean |difference| from the exact path's tensor (normalized units), top-1
agreement with the exact path (SqueezeNet), and the child's own peak RSS (VmHWM).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image

from resnet_cli.decode import SHRINK_FROM
from resnet_cli.preprocess import Preprocessing, center_crop, normalize, resize_shorter

RESIZE, CROP = 256, 224
DRAFT = SHRINK_FROM * RESIZE  # the shorter side a scaled decode keeps (decode.draft)
CANDIDATES = ("exact", "pillow-draft", "simplejpeg", "pyvips", "turbojpeg")
TRANSPOSE = {3: Image.Transpose.ROTATE_180, 6: Image.Transpose.ROTATE_270,
             8: Image.Transpose.ROTATE_90}


def scale_for(width: int, height: int) -> int:
    """The largest DCT scale (1, 2, 4, 8) that keeps the shorter side >= DRAFT."""
    short = min(width, height)
    return next(s for s in (8, 4, 2, 1) if short // s >= DRAFT)


def orientation(path: Path) -> int:
    with Image.open(path) as img:
        return img.getexif().get(0x0112, 1)


def finish(rgb: Image.Image, path: Path) -> np.ndarray:
    turn = TRANSPOSE.get(orientation(path))
    if turn is not None:
        rgb = rgb.transpose(turn)
    return normalize(center_crop(resize_shorter(rgb, RESIZE), CROP))


def decoder(name: str) -> Callable[[Path], np.ndarray]:
    """The preprocess function for candidate ``name`` (ImportError/OSError if absent)."""
    if name in ("exact", "pillow-draft"):
        return Preprocessing(RESIZE, CROP, resize_mode="exact" if name == "exact" else "fast")
    if name == "simplejpeg":
        import simplejpeg

        def run(path: Path) -> np.ndarray:
            pixels = simplejpeg.decode_jpeg(path.read_bytes(), "rgb", min_width=DRAFT,
                                            min_height=DRAFT)
            return finish(Image.fromarray(pixels), path)
        return run
    if name == "pyvips":
        os.environ.setdefault("VIPS_CONCURRENCY", "1")
        import pyvips

        def run(path: Path) -> np.ndarray:
            head = pyvips.Image.new_from_file(str(path))
            img = pyvips.Image.new_from_file(str(path), shrink=scale_for(head.width,
                                                                         head.height))
            return finish(Image.fromarray(img.numpy()), path)
        return run
    if name == "turbojpeg":
        from turbojpeg import TurboJPEG

        jpeg = TurboJPEG()

        def run(path: Path) -> np.ndarray:
            data = path.read_bytes()
            width, height, *_ = jpeg.decode_header(data)
            pixels = jpeg.decode(data, pixel_format=0,  # TJPF_RGB
                                 scaling_factor=(1, scale_for(width, height)))
            return finish(Image.fromarray(pixels), path)
        return run
    raise ValueError(name)


def child(name: str, files: list[Path], out: Path) -> None:
    """Decode ``files`` with ``name``; save tensors and CPU times to ``out`` (.npz)."""
    run = decoder(name)
    run(files[0])  # load libraries, warm caches
    tensors, times = [], []
    for f in files:
        start = time.process_time()
        tensors.append(run(f))
        times.append(1000 * (time.process_time() - start))
    np.savez(out, tensors=np.stack(tensors), times=np.array(times), rss=peak_rss_mib())


def peak_rss_mib() -> float:
    """This process's own peak RSS since exec (VmHWM; rusage would include the parent's)."""
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmHWM")) / 1024


def measure(name: str, files: list[Path], tmp: Path) -> dict | str:
    out = tmp / f"{name}.npz"
    proc = subprocess.Popen([sys.executable, __file__, "--child", name, str(out),
                             *map(str, files)], stderr=subprocess.PIPE, text=True)
    if proc.wait() != 0:
        lines = (proc.stderr.read() if proc.stderr else "").strip().splitlines()
        return lines[-1] if lines else "failed"
    data = np.load(out)
    return {"tensors": data["tensors"], "ms": float(np.median(data["times"])),
            "rss": float(data["rss"])}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--count", type=int, default=16)
    parser.add_argument("--photos", type=Path, default=Path(os.environ.get(
        "RESNET_BENCH_CACHE", Path(tempfile.gettempdir()) / "resnet-bench-real-photos"))
        / "sample" / "jpeg")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        name, out, *files = args.child
        return child(name, [Path(f) for f in files], Path(out))
    files = sorted(args.photos.glob("*.jpg"))[:args.count]
    if not files:
        raise SystemExit(f"no photos in {args.photos}: run benchmarks/real_photos.py first")
    from resnet_cli.classifier import Classifier

    net = Classifier.load("squeezenet1.1")
    with tempfile.TemporaryDirectory() as tmp:
        results = {name: measure(name, files, Path(tmp)) for name in CANDIDATES}
    exact = results["exact"]
    assert isinstance(exact, dict)
    top1 = net.probabilities(exact["tensors"]).argmax(axis=1)
    print(f"{len(files)} photos from {args.photos}; one thread each (libvips: "
          f"VIPS_CONCURRENCY=1); process CPU ms per photo, median")
    print(f"{'decoder':<13} {'CPU ms':>7} {'speed-up':>8} {'mean|diff|':>10} "
          f"{'top-1 agree':>11} {'peak RSS MiB':>12}")
    for name, r in results.items():
        if isinstance(r, str):
            print(f"{name:<13} unavailable: {r}")
            continue
        diff = float(np.abs(r["tensors"] - exact["tensors"]).mean())
        agree = float((net.probabilities(r["tensors"]).argmax(axis=1) == top1).mean())
        print(f"{name:<13} {r['ms']:7.1f} {exact['ms'] / r['ms']:7.2f}x {diff:10.4f} "
              f"{100 * agree:10.1f}% {r['rss']:12.0f}")
    print(json.dumps({n: (r if isinstance(r, str) else {"ms": r["ms"], "rss": r["rss"]})
                      for n, r in results.items()}))


if __name__ == "__main__":
    main()
