"""How fast a ``--report`` page with many inputs opens in headless chromium.

Writes a report of N inputs (default 10,000) with the same ``Report`` that ``predict
--report`` uses: input i is tests/data photo i % 4 under its own path, with that photo's
real SqueezeNet predictions and its own thumbnail file (the photo's thumbnail, copied, so
the page fetches N distinct files). Then opens it in Debian's chromium through Playwright
and prints the time to write it, its sizes, the time until the page is ready (all tiles
built), how many thumbnails were loaded by then (lazy loading), and the time to re-sort
and re-filter every tile.

    python benchmarks/report_pageload.py [--inputs 10000]
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

import resnet_cli
from resnet_cli.records import Record
from resnet_cli.report import Report, thumb_name, thumbnail

DATA = Path(__file__).resolve().parents[1] / "tests" / "data"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


def size(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--inputs", type=int, default=10_000)
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    args = parser.parse_args()

    classifier = resnet_cli.load("squeezenet1.1")
    photos = sorted(p for p in DATA.iterdir() if p.suffix in (".png", ".jpg"))
    tensors = [classifier.preprocess(str(p)) for p in photos]
    predictions = classifier.predict_batch(np.stack(tensors), 5)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "report"
        started = time.perf_counter()
        report = Report(out, "predict", classifier.name)
        for i, tensor in enumerate(tensors):
            thumbnail(tensor, classifier.preprocess).save(Path(tmp) / f"{i}.jpg", quality=80)
        for i in range(args.inputs):
            path = f"photos/{i:05d}_{photos[i % len(photos)].name}"
            shutil.copyfile(Path(tmp) / f"{i % len(photos)}.jpg", out / "thumbs" / thumb_name(path))
            report.add(Record(path, classifier.name, predictions[i % len(photos)]))
        report.close()
        written = time.perf_counter() - started
        print(f"{args.inputs} inputs: report written in {written:.2f} s; index.html "
              f"{(out / 'index.html').stat().st_size / 1024:.0f} KiB, data/ "
              f"{size(out / 'data') / 1024:.0f} KiB, "
              f"thumbs/ {size(out / 'thumbs') / 2**20:.1f} MiB", flush=True)

        from playwright.sync_api import sync_playwright

        with sync_playwright() as playwright:
            browser = playwright.chromium.launch_persistent_context(
                str(Path(tmp) / "profile"), executable_path=args.chromium, headless=True,
                args=CHROMIUM_ARGS, viewport={"width": 1280, "height": 900})
            page = browser.new_page()
            page.on("pageerror", lambda error: print("page error:", error))
            started = time.perf_counter()
            page.goto((out / "index.html").as_uri(), wait_until="commit")
            page.wait_for_selector("body[data-ready=true]", timeout=300_000)
            ready = time.perf_counter() - started
            tiles = page.locator("#grid .tile").count()
            loaded = page.eval_on_selector_all(
                "#grid img", "imgs => imgs.filter(i => i.complete && i.naturalWidth).length")
            started = time.perf_counter()
            page.select_option("#sort", "asc")
            page.select_option("#show", "low")
            refilter = time.perf_counter() - started
            browser.close()
        print(f"page ready in {ready:.2f} s with {tiles} tiles; {loaded} thumbnails loaded "
              f"by then; sort + filter of every tile {refilter:.2f} s")


if __name__ == "__main__":
    main()
