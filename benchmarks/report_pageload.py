"""How fast a ``--report`` page with many inputs opens in headless chromium.

Writes a report of N inputs (default 10,000) with the same ``Report`` that ``predict
--report`` uses: input i is tests/data photo i % 4 under its own path, with that photo's
real SqueezeNet predictions and its own thumbnail file (the photo's thumbnail, copied, so
the page fetches N distinct files). Then opens it in Debian's chromium through Playwright
and prints the time to write it, its sizes, the time until the page is ready, how many
tiles and thumbnails it holds by then, the time to re-sort and re-filter, and the time to
scroll down until every tile is built.

    python benchmarks/report_pageload.py [--inputs 10000]
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

DATA = Path(__file__).resolve().parents[1] / "tests" / "data"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


def size(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def write_report(out: Path, inputs: int) -> None:
    """A ``predict`` report of ``inputs`` records cycling over the tests/data photos."""
    import resnet_cli
    from resnet_cli.records import Record
    from resnet_cli.report import Report, thumb_name, thumbnail

    classifier = resnet_cli.load("squeezenet1.1")
    photos = sorted(p for p in DATA.iterdir() if p.suffix in (".png", ".jpg"))
    tensors = [classifier.preprocess(str(p)) for p in photos]
    predictions = classifier.predict_batch(np.stack(tensors), 5)
    report = Report(out, "predict", classifier.name)
    thumbs = [out / f"photo{i}.jpg" for i in range(len(photos))]
    for tensor, thumb in zip(tensors, thumbs, strict=True):
        thumbnail(tensor, classifier.preprocess).save(thumb, quality=80)
    for i in range(inputs):
        path = f"photos/{i:05d}_{photos[i % len(photos)].name}"
        shutil.copyfile(thumbs[i % len(photos)], out / "thumbs" / thumb_name(path))
        report.add(Record(path, classifier.name, predictions[i % len(photos)]))
    report.close()
    for thumb in thumbs:
        thumb.unlink()


# Scroll to the bottom, frame after frame, until the grid stops growing (as a reader holding
# End would), then back to the top.
SCROLL_TO_END = """async () => {
  const frame = () => new Promise((resolve) => requestAnimationFrame(resolve));
  const more = document.getElementById("more");
  while (more && !more.hidden) {  // (reports before paging built every tile at once)
    window.scrollTo(0, document.body.scrollHeight);
    await frame();
  }
  window.scrollTo(0, 0);
}"""


@dataclass(frozen=True)
class PageLoad:
    ready: float  # seconds from navigation until the page says it is ready
    tiles: int  # tiles in the DOM then
    thumbnails: int  # thumbnails the browser had loaded by then
    showing: str  # the page's "showing N of M"
    refilter: float  # seconds to sort by confidence and show only low-confidence inputs
    scrolled: float  # seconds to scroll down until every tile of the full list is built
    all_tiles: int


def measure(page: Any, index: Path) -> PageLoad:
    """Open ``index`` in ``page`` and time what a reader does first."""
    started = time.perf_counter()
    page.goto(index.as_uri(), wait_until="commit")
    page.wait_for_selector("body[data-ready=true]", timeout=300_000)
    ready = time.perf_counter() - started
    tiles = page.locator("#grid .tile").count()
    loaded = page.eval_on_selector_all(
        "#grid img", "imgs => imgs.filter(i => i.complete && i.naturalWidth).length")
    showing = page.inner_text("#showing")
    started = time.perf_counter()
    page.select_option("#sort", "asc")
    page.select_option("#show", "low")
    refilter = time.perf_counter() - started
    page.select_option("#show", "all")
    page.select_option("#sort", "input")
    started = time.perf_counter()
    page.evaluate(SCROLL_TO_END)
    scrolled = time.perf_counter() - started
    return PageLoad(ready, tiles, loaded, showing, refilter, scrolled,
                    page.locator("#grid .tile").count())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--inputs", type=int, default=10_000)
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "report"
        started = time.perf_counter()
        write_report(out, args.inputs)
        print(f"{args.inputs} inputs: report written in {time.perf_counter() - started:.2f} s; "
              f"index.html {(out / 'index.html').stat().st_size / 1024:.0f} KiB, data/ "
              f"{size(out / 'data') / 1024:.0f} KiB, "
              f"thumbs/ {size(out / 'thumbs') / 2**20:.1f} MiB", flush=True)

        from playwright.sync_api import sync_playwright

        with sync_playwright() as playwright:
            browser = playwright.chromium.launch_persistent_context(
                str(Path(tmp) / "profile"), executable_path=args.chromium, headless=True,
                args=CHROMIUM_ARGS, viewport={"width": 1280, "height": 900})
            page = browser.new_page()
            page.on("pageerror", lambda error: print("page error:", error))
            load = measure(page, out / "index.html")
            browser.close()
        print(f"page ready in {load.ready:.2f} s ({load.showing}) with {load.tiles} tiles "
              f"built and {load.thumbnails} thumbnails loaded; sort + filter "
              f"{load.refilter:.2f} s; scrolling until all {load.all_tiles} tiles are built "
              f"{load.scrolled:.2f} s")


if __name__ == "__main__":
    main()
