"""Memory is bounded by the images in flight, never by how many files failed."""

from __future__ import annotations

import io
import zlib

import numpy as np
import pytest
from hostile_proc import SQUEEZE, resnet
from PIL import Image

from resnet_cli import budget
from resnet_cli.errors import InputError
from resnet_cli.preprocess import load_rgb


def truncated_jpeg(side: int) -> bytes:
    """A third of a side x side JPEG: Pillow allocates every pixel, then fails."""
    buf = io.BytesIO()
    Image.new("RGB", (side, side), (120, 60, 30)).save(buf, "JPEG")
    return buf.getvalue()[: len(buf.getvalue()) // 3]


def test_failed_decodes_do_not_accumulate(tmp_path, baseline_rss):
    path = tmp_path / "cut.jpg"
    path.write_bytes(truncated_jpeg(6000))  # 137 MiB of pixels per attempt
    run = resnet("predict", *SQUEEZE, "-f", "jsonl", "-b", "4", *[str(path)] * 16)
    records = run.records()
    assert len(records) == 16 and run.returncode == 1
    assert all(r["error"].startswith("cannot decode: image file is truncated") for r in records)
    run.assert_clean_stderr()
    # before: every failure kept its pixels (16 x 137 MiB); now two decoders' worth at most
    assert run.peak_rss_mib < baseline_rss + 2 * 2 * 137 + 100, (run.peak_rss_mib, baseline_rss)


def test_sixteen_bit_png_converts_without_float64_copies(tmp_path, baseline_rss):
    side = 5000
    ramp = (np.arange(side, dtype=np.uint32) * 13 % 65536).astype(np.uint16)
    Image.fromarray(np.broadcast_to(ramp, (side, side)).copy()).save(tmp_path / "g16.png")
    run = resnet("predict", *SQUEEZE, "-f", "jsonl", str(tmp_path / "g16.png"))
    assert run.returncode == 0, run.stderr
    # I;16 (2 B/px) + L (1) + RGB (4) = 167 MiB; four float64 copies were 760 MiB more
    assert run.peak_rss_mib < baseline_rss + 7 * side * side / 2**20 + 100


def test_tall_tiff_is_refused_from_its_header(tmp_path, baseline_rss):
    Image.new("L", (40, 1638448)).save(tmp_path / "tall.tif", compression="tiff_deflate")
    assert (tmp_path / "tall.tif").stat().st_size < 100_000
    run = resnet("predict", *SQUEEZE, "-f", "jsonl", str(tmp_path / "tall.tif"))
    assert run.records() == [{"path": str(tmp_path / "tall.tif"), "error":
                              "aspect ratio of 40x1638448 is too extreme (over 64:1)"}]
    assert run.returncode == 1
    assert run.peak_rss_mib < baseline_rss + 30  # not one row decoded (65 MiB of pixels)


@pytest.mark.parametrize(("size", "mode", "why"), [
    ((0, 10), "RGB", "no pixels"),
    ((40, 1638448), "L", "aspect ratio"),
    ((10_000, 10_000), "RGB", "exceeds limit"),
    ((9000, 9000), "RGBA", "budget"),  # 81 Mpx: under the pixel limit, but 618 MiB
])
def test_budget_refuses_from_the_header(size, mode, why):
    assert why in budget.refusal(*size, mode)


def test_budget_admits_real_photos():
    assert budget.refusal(9400, 9400, "RGB") is None  # a 88 Mpx panorama still decodes
    assert budget.refusal(9000, 9000, "I;16") is None
    assert budget.decode_bytes(100, 100, "L") == 100 * 100 * (1 + 4)


def test_decoder_refuses_before_allocating(tmp_path):
    header_only = tmp_path / "big.png"
    Image.new("RGBA", (64, 64)).save(header_only)
    data = bytearray(header_only.read_bytes())  # IHDR claims 9000x9000 RGBA: 618 MiB
    data[16:24] = (9000).to_bytes(4, "big") * 2
    data[29:33] = zlib.crc32(data[12:29]).to_bytes(4, "big")
    header_only.write_bytes(bytes(data))
    with pytest.raises(InputError, match="MiB budget"):
        load_rgb(header_only)
