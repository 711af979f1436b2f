"""Phone-sized photos (12 MP), exact vs shrink-on-load decoding: speed, memory, accuracy.

Run:  .venv/bin/python benchmarks/real_photos.py [--count 1000] [--e2e-count 64] [--rounds 3]

Makes (once, cached under --cache) a reproducible folder of 12 MP photos from the ImageNet
sample in ../shared/data: each image upscaled (bicubic) to 4032x3024 (3024x4032 for
portrait ones, stored landscape with EXIF orientation 6 as phones do), seeded noise added,
saved as JPEG quality 92; HEIC and WebP copies of the first --copies. Without ../shared it
falls back to the photos in tests/data (and says so; no labels, so no accuracy figures).

Prints, in one run:
- decode + preprocess ms per photo, one thread, exact vs shrunk, per format (median), and
  for the JPEGs the entropy-decoding floor every shrink-on-load decoder pays;
- end-to-end images/s of ``resnet predict -f jsonl`` in a child process (steady rate
  between the second and the third-last batch: no model load, no drain) for
  SqueezeNet and ResNet-18 (cached weights, else random ones), exact, fast and draft
  alternating in --rounds paired rounds, with the child's peak RSS and how many photos
  fast decoded twice (close calls, counted from draft's records), and the same for a
  ``floor`` run: the ceiling of fast/exact for any decoder of the whole file (see FLOOR);
- accuracy over all --count photos (SqueezeNet, bundled weights): fast and draft vs exact
  top-1 agreement, top-1/top-5 of each, and how many photos fast decoded twice; and on the
  sample at its own size, whether the paths give identical records;
- with --threads, instead of all that: end-to-end images/s per (decode workers, OMP
  threads) split, for the 12 MP photos and for the sample's small ones.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import NamedTuple

import numpy as np
from devdata import ROOT, SAMPLE, cpu_model
from PIL import Image

from resnet_cli import registry
from resnet_cli.classes import imagenet_classes
from resnet_cli.decode import CLOSE_CALL, register_formats
from resnet_cli.evaluation import Labeller
from resnet_cli.preprocess import Preprocessing, load_rgb

TEST_PHOTOS = ROOT / "tests" / "data"
PHONE = (4032, 3024)
QUALITY = 92
NOISE = 6  # uniform integer noise in [-NOISE, NOISE], like a phone sensor's grain
ORIENTATION = 0x0112
BATCH = 16  # resnet predict's default batch size
WARM = 2 * BATCH  # records before the steady rate is timed (the engine decodes ahead)


def sources(count: int) -> tuple[list[Path], bool]:
    """Up to ``count`` source images and whether they are the labelled ImageNet sample."""
    if SAMPLE.is_dir():
        return sorted(SAMPLE.glob("*.JPEG"))[:count], True
    print(f"NOTE: {SAMPLE} is absent: using the photos in tests/data (no accuracy figures)")
    photos = sorted(p for p in TEST_PHOTOS.iterdir() if p.suffix in (".jpg", ".png"))
    return [photos[i % len(photos)] for i in range(count)], False


def make_photo(src: Path, dst: Path, seed: int) -> None:
    """One phone-sized JPEG from ``src``: upscaled, grainy, portrait stored rotated + EXIF."""
    img = load_rgb(src)
    portrait = img.height > img.width
    big = img.resize(PHONE[::-1] if portrait else PHONE, Image.BICUBIC)
    if portrait:  # the sensor's landscape pixels, shown upright by the orientation tag
        big = big.transpose(Image.Transpose.ROTATE_90)
    rng = np.random.default_rng(seed)
    pixels = np.asarray(big, dtype=np.int16) + rng.integers(-NOISE, NOISE + 1,
                                                            (big.height, big.width, 3),
                                                            dtype=np.int16)
    out = Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))
    exif = Image.Exif()
    if portrait:
        exif[ORIENTATION] = 6
    tmp = dst.with_suffix(".tmp")
    out.save(tmp, "JPEG", quality=QUALITY, exif=exif)
    tmp.rename(dst)


def make_copy(jpeg: Path, dst: Path) -> None:
    """The same photo as HEIC or WebP (pixels and EXIF orientation kept)."""
    register_formats()
    with Image.open(jpeg) as img:
        exif = img.getexif()
        tmp = dst.with_name(dst.stem + ".tmp" + dst.suffix)
        img.save(tmp, quality=85, exif=exif)
    tmp.rename(dst)


def make_folder(cache: Path, count: int, copies: int) -> tuple[list[Path], dict[str, list[Path]],
                                                             bool]:
    """Create what is missing in the cache; return JPEGs, copies by format, labelled?"""
    srcs, labelled = sources(count)
    folder = cache / ("sample" if labelled else "test-photos")
    (folder / "jpeg").mkdir(parents=True, exist_ok=True)
    jpegs = [folder / "jpeg" / f"{i:04d}_{s.stem}.jpg" if not labelled else
             folder / "jpeg" / f"{s.stem}.jpg" for i, s in enumerate(srcs)]
    todo = [(s, d, i) for i, (s, d) in enumerate(zip(srcs, jpegs, strict=True))
            if not d.exists()]
    copy_jobs = []
    out: dict[str, list[Path]] = {}
    for fmt in ("heic", "webp"):
        (folder / fmt).mkdir(exist_ok=True)
        out[fmt] = [folder / fmt / j.with_suffix("." + fmt).name for j in jpegs[:copies]]
        copy_jobs += [(j, d) for j, d in zip(jpegs, out[fmt], strict=False) if not d.exists()]
    if todo or copy_jobs:
        print(f"making {len(todo)} photos and {len(copy_jobs)} copies in {folder} ...",
              flush=True)
        start = time.perf_counter()
        with ProcessPoolExecutor(os.cpu_count()) as pool:
            list(pool.map(make_photo, *zip(*todo, strict=True))) if todo else None
            list(pool.map(make_copy, *zip(*copy_jobs, strict=True))) if copy_jobs else None
        print(f"  done in {time.perf_counter() - start:.0f} s")
    return jpegs, out, labelled


def cpu_ms(files: list[Path], read: Callable[[Path], object]) -> list[float]:
    """CPU ms of ``read`` on each file, one thread: CPU time, so the other processes on a
    shared machine do not inflate it."""
    times = []
    for f in files:
        start = time.thread_time()
        read(f)
        times.append(1000 * (time.thread_time() - start))
    return times


def decode_ms(files: list[Path], mode: str) -> float:
    """Median CPU ms of one Preprocessing call (decode, resize, crop, normalize)."""
    return statistics.median(cpu_ms(files, Preprocessing(resize_mode=mode)))


def entropy_floor(path: Path) -> None:
    """Decode a JPEG at 1/8 scale in grey: libjpeg-turbo still Huffman-decodes every
    coefficient of every channel (a baseline JPEG has no way to skip them), then only scales
    each block's DC term. No shrink-on-load decoder of the whole file costs less."""
    with Image.open(path) as img:
        img.draft("L", (img.width // 8, img.height // 8))
        img.load()


# ``resnet`` that writes its own peak RSS (VmHWM, counted from exec) to $PEAK_RSS_FILE at
# exit: the kernel's rusage of a child also counts the parent's pages from before the exec.
RESNET_WITH_PEAK_RSS = """
import atexit, os, sys
def peak():
    with open("/proc/self/status") as status, open(os.environ["PEAK_RSS_FILE"], "w") as out:
        out.write(next(line.split()[1] for line in status if line.startswith("VmHWM")))
atexit.register(peak)
if os.environ.get("FLOOR_DECODE"):  # the "floor" runs: see ``floor_decode``
    import numpy as np
    from PIL import Image
    from resnet_cli import preprocess
    def floor_decode(self, path):
        with Image.open(path) as img:
            img.draft("L", (img.width // 8, img.height // 8))
            img.load()
        return preprocess.Decoded(np.zeros((3, self.crop, self.crop), np.float32))
    preprocess.Preprocessing.decode = floor_decode
from resnet_cli.cli import main
main()
"""
FLOOR = "floor"
"""The ceiling of any shrink-on-load decode, run end to end: ``resnet predict`` whose every
decode is only the entropy decoding (as ``entropy_floor``), then a blank tensor for the
model. Its records are meaningless; its rate is what no decoder of the whole file beats."""


class Run(NamedTuple):
    rate: float  # images/s, steady (see predict)
    rss_mib: float  # the child's peak RSS
    records: list[dict]
    cpu_ms: float  # the child's CPU ms per image over the same window as ``rate``


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a running process, all its threads."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def predict(files: list[Path], model_args: list[str], mode: str, workers: int | None = None,
            omp: int | None = None, wait: str | None = None) -> Run:
    """Run ``resnet predict -`` on ``files``.

    images/s is the steady rate between the second batch's last record and the third-last
    batch's: the model load (1-5 s) is before it, and the engine keeps the same two batches
    in flight at both ends (the last two drain with no new input; counting them would
    credit the window with decoding done before it). The CPU time over that window says
    what a split costs whatever else the machine runs.
    """
    env = dict(os.environ)
    if omp is not None:
        env["OMP_NUM_THREADS"] = str(omp)
    if wait is not None:  # OpenMP threads idle: spin (active, libgomp's default) or sleep
        env["OMP_WAIT_POLICY"] = wait
    if mode == FLOOR:
        env["FLOOR_DECODE"] = "1"
    cmd = [sys.executable, "-c", RESNET_WITH_PEAK_RSS, "predict", *model_args, "--resize",
           "exact" if mode == FLOOR else mode, "-f", "jsonl", "-q", "-b", str(BATCH), "-"]
    if workers is not None:
        cmd += ["--workers", str(workers)]
    with tempfile.TemporaryFile() as listing, tempfile.NamedTemporaryFile("r") as rss:
        env["PEAK_RSS_FILE"] = rss.name
        listing.write("".join(f"{f}\n" for f in files).encode())
        listing.seek(0)
        proc = subprocess.Popen(cmd, stdin=listing, stdout=subprocess.PIPE, env=env)
        assert proc.stdout is not None
        stamped, cpu = [], []
        for line in proc.stdout:
            stamped.append((time.perf_counter(), line))
            if len(stamped) in (WARM, len(files) - WARM):
                cpu.append(cpu_seconds(proc.pid))
        if proc.wait() not in (0, 1) or len(stamped) != len(files) or len(files) < 3 * WARM:
            raise SystemExit(f"resnet {' '.join(cmd[3:])}: exit {proc.returncode}, "
                             f"{len(stamped)} records for {len(files)} files "
                             f"(need >= {3 * WARM})")
        peak_kib = int(rss.read())
    timed = len(files) - 2 * WARM
    rate = timed / (stamped[-WARM - 1][0] - stamped[WARM - 1][0])
    return Run(rate, peak_kib / 1024, [json.loads(line) for _, line in stamped],
               1000 * (cpu[1] - cpu[0]) / timed)


def resnet18_args(cache: Path) -> tuple[list[str], str]:
    """ResNet-18 with cached ImageNet weights if present, else random ones saved once."""
    from resnet_cli.runtime import mxnet
    from resnet_cli.weights.cache import cached_path

    if cached_path("resnet18_v1").is_file():
        return ["-m", "resnet18_v1"], "cached ImageNet weights"
    path = cache / "resnet18_random.params"
    if not path.is_file():
        net = registry.get("resnet18_v1").build(classes=1000)
        net.initialize()
        net(mxnet().nd.zeros((1, 3, 224, 224)))
        net.save_parameters(str(path))
    return ["-m", "resnet18_v1", "--weights", str(path)], "random weights"


MODES = ("exact", "fast", "draft")


def paired(files: list[Path], model_args: list[str], rounds: int) -> dict[str, list[Run]]:
    """The resize modes and the floor alternating, ``rounds`` runs of each."""
    out: dict[str, list[Run]] = {mode: [] for mode in (*MODES, FLOOR)}
    for _ in range(rounds):
        for mode in out:
            out[mode].append(predict(files, model_args, mode))
    return out


def top(records: list[dict], k: int) -> list[list[int]]:
    return [[p["index"] for p in r.get("predictions", [])[:k]] for r in records]


def margin(record: dict) -> float:
    """Top-1 minus top-2 probability: how close a call the prediction was."""
    p = record["predictions"]
    return p[0]["probability"] - p[1]["probability"]


def changed(results: dict[str, list[dict]], mode: str) -> list[int]:
    """The photos whose top-1 under ``mode`` is not the exact path's."""
    pairs = zip(top(results["exact"], 1), top(results[mode], 1), strict=True)
    return [i for i, (a, b) in enumerate(pairs) if a != b]


def accuracy(jpegs: list[Path], labelled: bool, small: list[Path], closest: int) -> None:
    """SqueezeNet fast and draft vs exact over every photo; identical records on small ones."""
    squeeze = ["-m", "squeezenet1.1"]
    rates, results = {}, {}
    for mode in MODES:
        rates[mode], _, results[mode], _ = predict(jpegs, squeeze, mode)
    print(f"\naccuracy, SqueezeNet 1.1 (bundled weights), {len(jpegs)} photos of 12 MP:")
    for mode in ("fast", "draft"):
        print(f"  {mode} vs exact top-1 agreement  "
              f"{100 * (1 - len(changed(results, mode)) / len(jpegs)):.2f}%   (target >= 99%;"
              f" runs: exact {rates['exact']:.1f} img/s, {mode} {rates[mode]:.1f} img/s)")
    twice = sum(margin(r) < CLOSE_CALL for r in results["draft"])
    print(f"  fast decoded {twice} of {len(jpegs)} photos again at full size "
          f"({100 * twice / len(jpegs):.1f}%: top two under {CLOSE_CALL} apart)")
    if labelled:
        label = Labeller(imagenet_classes())
        for mode in MODES:
            truth = [label(r["path"]) for r in results[mode]]
            t5 = top(results[mode], 5)
            a1 = np.mean([t[:1] == [y] for t, y in zip(t5, truth, strict=True)])
            a5 = np.mean([y in t for t, y in zip(t5, truth, strict=True)])
            print(f"  {mode:<5} top-1 {100 * a1:.2f}%  top-5 {100 * a5:.2f}%   "
                  f"(target: fast within 0.3 points)")
    gaps = sorted(margin(r) for r in results["exact"])
    changed_gaps = sorted(margin(results["exact"][i]) for i in changed(results, "draft"))
    if changed_gaps:
        print(f"  draft's changes were close calls: exact top-1 minus top-2 probability, "
              f"median {statistics.median(changed_gaps):.3f}, largest {changed_gaps[-1]:.3f}"
              f" (all photos: median {statistics.median(gaps):.3f})")
    near_exact(jpegs, results, closest)
    if small:
        same = [predict(small, squeeze, mode).records for mode in MODES]
        identical = sum(a == b == c for a, b, c in zip(*same, strict=True))
        print(f"  original sample at its own size: {identical}/{len(small)} records identical "
              f"in all three modes (probabilities to the last digit)")


def near_exact(jpegs: list[Path], results: dict[str, list[dict]], closest: int) -> None:
    """How often any approximation flips these close calls: Pillow's own ``reducing_gap=3``
    resize of the fully decoded photo (which Pillow calls indistinguishable from the exact
    one), on the ``closest`` photos by exact's margin, beside draft's changes there."""
    from resnet_cli.classifier import Classifier
    from resnet_cli.preprocess import center_crop, normalize

    order = sorted(range(len(jpegs)), key=lambda i: margin(results["exact"][i]))[:closest]
    net = Classifier.load("squeezenet1.1")
    exact, gap3 = [], []
    for i in order:
        img = load_rgb(jpegs[i])  # the full decode, oriented: the exact path from here on
        w, h = img.size
        new = (256, int(h * 256 / w)) if w <= h else (int(w * 256 / h), 256)
        exact.append(net.preprocess.image(img))
        gap3.append(normalize(center_crop(img.resize(new, Image.BILINEAR, reducing_gap=3.0),
                                          224)))
    flips = (net.probabilities(np.stack(exact)).argmax(1)
             != net.probabilities(np.stack(gap3)).argmax(1)).sum()
    draft = sum(top(results["exact"], 1)[i] != top(results["draft"], 1)[i] for i in order)
    print(f"  on the {len(order)} closest calls: Pillow's reducing_gap=3 (full decode, box "
          f"reduce 3, bilinear) changes top-1 on {flips}, draft on {draft}")


def threads(big: list[Path], small: list[Path], model_args: list[str], rounds: int) -> None:
    """End-to-end images/s and CPU ms per image for each (decode workers, OMP threads)
    split, fast path; the splits alternate within each round, so each round compares them
    under the same load. On a busy machine more threads also win a larger share of it,
    so the CPU cost per image is printed beside the rate."""
    cores = len(os.sched_getaffinity(0))
    splits = [(w, o, None) for w in (1, cores, cores + 1) for o in (1, cores)]
    splits.append((cores, cores, "passive"))
    print(f"\nthreads ({' '.join(model_args)}), fast path: decode workers/OMP threads, "
          f"images/s (median of {rounds} rounds; paired ratio to {cores}/{cores}, the "
          f"default) and CPU ms per image")
    for name, files in (("12 MP JPEG", big), ("sample JPEG", small)):
        runs: dict[tuple[int, int, str | None], list[Run]] = {s: [] for s in splits}
        for _ in range(rounds):
            for split in splits:
                runs[split].append(predict(files, model_args, "fast", *split))
        base = [r.rate for r in runs[cores, cores, None]]
        cells = [f"{w}/{o}{' OMP_WAIT_POLICY=' + wait if wait else ''}: "
                 f"{statistics.median(r.rate for r in rs):.1f} "
                 f"({statistics.median(r.rate / b for r, b in zip(rs, base, strict=True)):.2f}"
                 f"x, {statistics.median(r.cpu_ms for r in rs):.0f} ms)"
                 for (w, o, wait), rs in runs.items()]
        print(f"  {name} ({len(files)}):\n    " + "\n    ".join(cells))


def load() -> str:
    """The 1, 5 and 15 minute load averages: the figures are only as quiet as the machine."""
    return " ".join(f"{x:.1f}" for x in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--count", type=int, default=100,
                        help="photos for the accuracy pass (1000 = the whole sample)")
    parser.add_argument("--e2e-count", type=int, default=96, help="photos per timed run")
    parser.add_argument("--copies", type=int, default=8, help="HEIC and WebP copies")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", action="store_true",
                        help="measure the thread splits only")
    parser.add_argument("--skip-accuracy", action="store_true")
    parser.add_argument("--engine", default="mxnet",
                        help="resnet predict --engine for the end-to-end runs (auto: the "
                             "fastest installed; the model is then a smaller share)")
    parser.add_argument("--closest", type=int, default=120,
                        help="close calls re-run with Pillow's reducing_gap=3 for reference")
    parser.add_argument("--cache", type=Path, default=Path(os.environ.get(
        "RESNET_BENCH_CACHE", Path(tempfile.gettempdir()) / "resnet-bench-real-photos")))
    args = parser.parse_args()
    print(f"CPU: {cpu_model()}, {len(os.sched_getaffinity(0))} cores available, "
          f"load average {load()}")
    jpegs, copies, labelled = make_folder(args.cache, max(args.count, args.e2e_count),
                                          args.copies)
    small = sorted(SAMPLE.glob("*.JPEG"))[:args.count] if labelled else []
    e2e = jpegs[:args.e2e_count]
    r18, r18_note = resnet18_args(args.cache)
    if args.threads:
        for model_args in (["-m", "squeezenet1.1"], r18):
            threads(e2e, small[:args.e2e_count * 4] or e2e, model_args, args.rounds)
        print(f"\nload average at the end: {load()}")
        return

    print("\ndecode + preprocess, CPU ms per photo (median, one thread):")
    sets = {"12 MP JPEG": jpegs[:args.copies], **{f"12 MP {k.upper()}": v
                                                   for k, v in copies.items()}}
    if small:
        sets["sample JPEG"] = small[:args.copies * 4]
    decoded = {}
    for name, files in sets.items():
        decoded[name] = exact, shrunk = decode_ms(files, "exact"), decode_ms(files, "draft")
        print(f"  {name:<12} exact {exact:7.1f}  shrunk {shrunk:6.1f}  "
              f"ratio {exact / shrunk:5.2f}x")
    floor = statistics.median(cpu_ms(sets["12 MP JPEG"], entropy_floor))
    print(f"  12 MP JPEG   entropy-decoding floor {floor:.1f} (1/8 scale, grey): no shrink-"
          f"on-load decode beats exact by more than {decoded['12 MP JPEG'][0] / floor:.2f}x")

    print(f"\nend-to-end `resnet predict --engine {args.engine}` on {len(e2e)} 12 MP JPEGs, "
          f"images/s from record {WARM} to {len(e2e) - WARM}, {args.rounds} paired rounds:")
    for name, model_args in (("SqueezeNet 1.1", ["-m", "squeezenet1.1"]),
                             (f"ResNet-18 ({r18_note})", r18)):
        res = paired(e2e, [*model_args, "--engine", args.engine], args.rounds)
        cpu = {mode: statistics.median(r.cpu_ms for r in runs) for mode, runs in res.items()}
        print(f"  {name}:")
        for mode in ("fast", "draft", FLOOR):
            ratios = [f.rate / e.rate for e, f in zip(res["exact"], res[mode], strict=True)]
            rounds = " ".join(f"{r:.2f}" for r in ratios)
            print(f"    images/s exact {statistics.median(r.rate for r in res['exact']):.2f}  "
                  f"{mode} {statistics.median(r.rate for r in res[mode]):.2f}  {mode}/exact "
                  f"{statistics.median(ratios):.2f}x (rounds {rounds});"
                  f" CPU ms per image exact/{mode} {cpu['exact']:.0f}/{cpu[mode]:.0f} = "
                  f"{cpu['exact'] / cpu[mode]:.2f}x (the rate ratio on an idle machine)")
        twice = sum(margin(r) < CLOSE_CALL for r in res["draft"][0].records)
        print(f"    fast decoded {twice} of {len(e2e)} photos again at full size")
        print("    peak RSS MiB: " + "  ".join(f"{mode} {max(r.rss_mib for r in res[mode]):.0f}"
                                               for mode in MODES)
              + "   (targets: fast/exact >= 3.5x, fast RSS <= exact)")
    if not args.skip_accuracy:
        accuracy(jpegs[:args.count], labelled, small, args.closest)
    print(f"\nload average at the end: {load()}")


if __name__ == "__main__":
    main()
