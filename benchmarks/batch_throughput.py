"""End-to-end vs model-only images/s of resnet's batch engine, and peak RSS as inputs grow.

Run:  .venv/bin/python benchmarks/batch_throughput.py [--model squeezenet1.1] [--batch-size 16]

The measurements are ``resnet bench``'s (``resnet_cli.bench``): model-only repeats forward
passes over a batch of real preprocessed images; end-to-end goes from files on disk
through decode threads and batches to JSON lines written to /dev/null, through
``resnet_cli.classify``.  The two alternate ``--repeats`` times and the medians are
compared.  Peak RSS: ``resnet predict -`` in a child process over 1,000 and 10,000 paths
(the sample repeated), read from the kernel's rusage.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from devdata import image_folder, measured

import resnet_cli
from resnet_cli import bench, registry, settings


def peak_rss_mib(model: str, paths: list[str], batch_size: int) -> float:
    """Peak RSS of a whole ``resnet predict -`` run over ``paths``, in MiB."""
    with tempfile.TemporaryFile() as listing:
        listing.write("".join(p + "\n" for p in paths).encode())
        listing.seek(0)
        return measured([sys.executable, "-m", "resnet_cli", "predict", "--model", model,
                         "-f", "jsonl", "-b", str(batch_size), "-q", "-"],
                        stdin=listing, stderr=None).peak_rss_mib


def main() -> None:
    cores = settings.current().cores
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=registry.BUNDLED_MODEL)
    parser.add_argument("--weights", default=None)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--workers", type=int, default=cores)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--images", type=Path, default=None,
                        help="images [default: the ImageNet sample, else 200 made from "
                             "tests/data]")
    parser.add_argument("--skip-rss", action="store_true")
    args = parser.parse_args()

    args.images = image_folder(args.images, 200)
    files = bench.image_paths(args.images)
    if not args.skip_rss:
        # First, while this process is small: a child's ru_maxrss also counts the pages
        # it shared with its parent before exec.
        small = peak_rss_mib(args.model, files, args.batch_size)
        large = peak_rss_mib(args.model, files * 10, args.batch_size)
        print(f"peak RSS  {len(files):>6} inputs: {small:7.1f} MiB")
        print(f"peak RSS  {10 * len(files):>6} inputs: {large:7.1f} MiB")
        print(f"RSS growth 10x inputs: {100 * (large / small - 1):+.1f}%  (target < 10%)")
    classifier = resnet_cli.load(args.model, args.weights)
    batch = bench.batch_of(classifier, args.batch_size, args.images)
    mo, e2e = bench.paired({
        "model-only": bench.model_only(classifier, batch),
        "end-to-end": bench.end_to_end(classifier, files, args.batch_size, args.workers),
    }, args.repeats)
    print(f"model {args.model}, batch {args.batch_size}, workers {args.workers}, "
          f"{len(files)} images, cores {cores}")
    for m in (mo, e2e):
        print(f"{m.label:<12} images/s: median {m.median:7.1f}  "
              f"runs {[round(x, 1) for x in m.images_per_second]}")
    print(f"ratio end-to-end / model-only: {e2e.median / mo.median:.3f}  (target >= 0.9)")


if __name__ == "__main__":
    main()
