"""``--report``: the HTML folder, opened in a real headless chromium (Playwright drives
Debian's /usr/bin/chromium; the network is closed, so every request must be a local file)."""

from __future__ import annotations

import json
import shutil
import signal
from pathlib import Path

import numpy as np
import pytest
from helpers import SQUEEZE, invoke, jsonl, spawn
from PIL import Image
from report_pageload import measure, write_report

from resnet_cli.preprocess import Preprocessing, center_crop, load_rgb, normalize, resize_shorter
from resnet_cli.report import thumbnail
from resnet_cli.report_stats import Scored, calibration, confused_pairs

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    """A fresh chromium profile per test module, headless, no network services."""
    if not Path(CHROMIUM).is_file():
        pytest.skip("chromium is not installed (apt-get install -y chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path_factory.mktemp("chromium-profile")), executable_path=CHROMIUM,
            headless=True, args=CHROMIUM_ARGS, viewport={"width": 1280, "height": 900})
        yield context
        context.close()


def open_report(browser, folder: Path):
    """The report's page, loaded; fails on any request that is not a local file."""
    page = browser.new_page()
    requests: list[str] = []
    page.on("request", lambda request: requests.append(request.url))
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto((folder / "index.html").as_uri())
    page.wait_for_selector("body[data-ready=true]")
    page.requests, page.errors = requests, errors
    return page


def visible_tiles(page) -> list[str]:
    return page.eval_on_selector_all(
        "#grid .tile:not([hidden])", "nodes => nodes.map(n => n.dataset.path)")


@pytest.fixture
def photo_folder(photos, tmp_path) -> Path:
    folder = tmp_path / "photos"
    folder.mkdir()
    for path in photos.values():
        shutil.copy(path, folder / path.name)
    (folder / "broken.jpg").write_bytes(b"not a jpeg")
    return folder


def test_predict_report_tiles_filters_sort_and_failures(browser, photo_folder, tmp_path,
                                                        cache):
    out = tmp_path / "report"
    result = invoke("predict", *SQUEEZE, str(photo_folder), "--report", str(out), "-f", "jsonl")
    assert result.exit_code == 1  # broken.jpg
    records = jsonl(result.stdout)  # stdout unchanged
    assert len(records) == 5 and f"report: {out / 'index.html'}" in result.stderr
    top1 = {r["path"]: r["predictions"][0] for r in records if "predictions" in r}

    page = open_report(browser, out)
    assert page.locator("#grid .tile").count() == 5  # one tile per input
    assert len(visible_tiles(page)) == 5
    assert page.inner_text("#status") == "complete"
    failed = page.locator("#failed-list li").all_inner_texts()
    assert failed == [f"{photo_folder / 'broken.jpg'}: not an image Pillow can read"]
    assert page.locator(".tile.failed .reason").inner_text() == "not an image Pillow can read"
    # every thumbnail is a real image file that the browser decoded
    widths = page.eval_on_selector_all("#grid img", "imgs => imgs.map(i => i.naturalWidth)")
    assert widths == [128] * 4

    page.select_option("#label", "espresso")
    assert visible_tiles(page) == [str(photo_folder / "coffee.png")]
    page.select_option("#label", "")
    page.select_option("#show", "failed")
    assert visible_tiles(page) == [str(photo_folder / "broken.jpg")]
    page.select_option("#show", "low")
    low = sorted(p for p, top in top1.items() if top["probability"] < 0.5)
    assert sorted(visible_tiles(page)) == low and low
    page.fill("#low", "0.99")
    assert len(visible_tiles(page)) == 4
    page.select_option("#show", "all")
    page.fill("#min", "0.9")
    high = [p for p, top in top1.items() if top["probability"] >= 0.9]
    assert sorted(p for p in visible_tiles(page) if p in top1) == sorted(high)
    page.fill("#min", "0")
    page.select_option("#sort", "asc")
    by_confidence = sorted(top1, key=lambda p: top1[p]["probability"])
    assert [p for p in visible_tiles(page) if p in top1] == by_confidence
    page.screenshot(path=str(tmp_path / "report.png"), full_page=True)
    assert (tmp_path / "report.png").stat().st_size > 10_000
    assert page.errors == []
    assert all(url.startswith("file://") for url in page.requests), page.requests


def labelled_folder(photos, root: Path) -> Path:
    """Class-named folders: two photos the model gets right, two it gets wrong."""
    for folder, name in [("espresso", "coffee"), ("bow_tie", "grace_hopper"),
                         ("tabby", "chelsea"), ("missile", "rocket")]:
        (root / folder).mkdir(parents=True)
        shutil.copy(photos[name], root / folder / photos[name].name)
    (root / "tabby" / "truncated.png").write_bytes(photos["chelsea"].read_bytes()[:3000])
    return root


def test_eval_report_accuracy_confusions_calibration(browser, photos, tmp_path, cache):
    data, out = labelled_folder(photos, tmp_path / "labelled"), tmp_path / "report"
    result = invoke("eval", *SQUEEZE, str(data), "--report", str(out), "-f", "json")
    assert result.exit_code == 1
    scores = json.loads(result.stdout)
    page = open_report(browser, out)
    assert page.locator("#grid .tile").count() == 5
    accuracy = dict(zip(page.locator("#accuracy th").all_inner_texts(),
                        page.locator("#accuracy td").all_inner_texts(), strict=True))
    assert accuracy["top-1"] == f"{100 * scores['top1']:.2f}%"
    assert accuracy["top-5"] == f"{100 * scores['top5']:.2f}%"
    assert accuracy["images scored"] == "4" and accuracy["failed or unlabelled"] == "1"
    per_class = page.locator("#per-class tbody tr").all_inner_texts()
    assert len(per_class) == len(scores["per_class"]) == 4
    assert per_class[0].split("\t")[2] == "0.0%"  # worst first
    wrong = {f"{c['label']}" for c in scores["per_class"] if c["top1"] == 0}
    confusions = page.locator("#confusions tbody tr").all_inner_texts()
    assert {row.split("\t")[0] for row in confusions} == wrong
    example_widths = page.eval_on_selector_all("#confusions img",
                                               "imgs => imgs.map(i => i.naturalWidth)")
    assert example_widths and all(w == 128 for w in example_widths)
    diagram = page.locator("#evaluation img[src='calibration.svg']")
    assert diagram.evaluate("img => img.naturalWidth") > 0
    assert "ECE" in (out / "calibration.svg").read_text()
    page.select_option("#show", "wrong")
    assert len(visible_tiles(page)) == len(wrong)
    page.select_option("#show", "right")
    assert len(visible_tiles(page)) == 4 - len(wrong)
    page.select_option("#show", "all")
    page.screenshot(path=str(tmp_path / "eval-report.png"), full_page=True)
    assert page.errors == [] and all(url.startswith("file://") for url in page.requests)


def test_ctrl_c_leaves_a_usable_report(browser, photos, tmp_path, cache):
    listing = tmp_path / "paths.txt"
    listing.write_text(f"{photos['coffee']}\n" * 5000)
    out = tmp_path / "report"
    with listing.open("rb") as stdin:
        proc = spawn("-f", "jsonl", "-b", "4", "--report", str(out), "-", stdin=stdin)
    lines = [proc.stdout.readline() for _ in range(3)]
    proc.send_signal(signal.SIGINT)
    rest, _ = proc.communicate(timeout=30)
    assert proc.returncode == 130
    written = len(lines) + len(rest.splitlines())
    page = open_report(browser, out)
    assert page.inner_text("#status") == "interrupted"
    tiles = page.locator("#grid .tile").count()
    assert written <= tiles <= written + 1 < 5000  # + the record being printed at Ctrl-C
    assert page.errors == []


def test_thumbnail_is_the_crop_the_model_saw(photos):
    crop = center_crop(resize_shorter(load_rgb(photos["rocket"]), 256), 224)
    image = thumbnail(Preprocessing()(photos["rocket"]), Preprocessing())
    assert image.size == (128, 128)
    expected = np.asarray(crop.resize((128, 128), Image.BILINEAR), dtype=np.int16)
    assert np.abs(np.asarray(image, dtype=np.int16) - expected).max() <= 2
    assert np.array_equal(normalize(crop), Preprocessing()(photos["rocket"]))


def test_calibration_bins_and_ece():
    scored = [Scored("a", 1, 1, 0.95), Scored("b", 1, 2, 0.85), Scored("c", 2, 2, 0.91),
              Scored("d", 3, 3, 0.15)]
    result = calibration(scored)
    counts = [b.count for b in result.bins]
    assert counts == [0, 1, 0, 0, 0, 0, 0, 0, 1, 2]
    assert result.bins[9].accuracy == 1.0 and result.bins[8].accuracy == 0.0
    assert result.bins[9].confidence == pytest.approx(0.93)
    expected = (2 * abs(1 - 0.93) + abs(0 - 0.85) + abs(1 - 0.15)) / 4
    assert result.ece == pytest.approx(expected)
    assert calibration([Scored("e", 0, 0, 1.0)]).bins[-1].count == 1


def test_confused_pairs_ranked_with_examples():
    scored = [Scored(f"{i}", 1, 2, 0.5) for i in range(6)] + [Scored("x", 3, 4, 0.4),
                                                              Scored("y", 5, 5, 0.9)]
    pairs = confused_pairs(scored, examples=4)
    assert [(p.truth, p.predicted, p.count) for p in pairs] == [(1, 2, 6), (3, 4, 1)]
    assert pairs[0].examples == ["0", "1", "2", "3"]


@pytest.mark.slow
def test_ten_thousand_tiles_load_fast(browser, tmp_path, cache):
    out = tmp_path / "report"
    write_report(out, 10_000)
    assert (out / "index.html").stat().st_size < 100_000  # records live in data/*.js
    page = browser.new_page()
    load = measure(page, out / "index.html")
    print(f"\n10,000 inputs: page ready in {load.ready:.2f} s with {load.tiles} tiles and "
          f"{load.thumbnails} thumbnails; sort+filter {load.refilter:.2f} s; all tiles "
          f"built after scrolling {load.scrolled:.2f} s")
    assert load.showing == "showing 10000 of 10000"
    assert load.tiles <= 300 and load.thumbnails <= load.tiles  # one page, lazy thumbnails
    assert load.all_tiles == 10_000  # scrolling reaches every input
    assert load.ready < 30  # about 1.5 s; generous: CI's 2 cores are shared with the run
    page.select_option("#label", "espresso")  # coffee.png: every 4th input, beyond any page
    assert page.inner_text("#showing") == "showing 2500 of 10000"
    labels = page.eval_on_selector_all("#grid .label", "nodes => nodes.map(n => n.textContent)")
    assert len(labels) == 300 and all(text.startswith("espresso ") for text in labels)
