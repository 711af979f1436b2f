"""Decoder exceptions become clean one-line reasons; a damaged EXIF block costs only the
EXIF; Pillow's warnings never reach stderr anonymously."""

from __future__ import annotations

import io
import shutil
import struct
import zlib

import pytest
from hostile_proc import DATA, SQUEEZE, resnet
from PIL import Image, ImageOps

from resnet_cli import failures
from resnet_cli.errors import InputError
from resnet_cli.preprocess import load_rgb


def damaged_exif_jpeg() -> bytes:
    """Orientation 6 plus a tag whose type Pillow cannot write back: ``exif_transpose``
    raises struct.error, though every pixel decodes."""
    exif = Image.Exif()
    exif[0x0112] = 6
    exif[0x011A] = 72.0
    raw = bytearray(exif.tobytes())
    raw[29] = 0x01  # XResolution (0x011A, a rational) becomes ImageLength (0x0101)
    buf = io.BytesIO()
    Image.open(DATA / "coffee.png").convert("RGB").save(buf, "JPEG", exif=bytes(raw))
    return buf.getvalue()


def chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(
        ">I", zlib.crc32(kind + data))


def png_with_bad_apng_chunk() -> bytes:
    """coffee.png with an acTL chunk claiming 0 frames: Pillow warns, then decodes it."""
    data = (DATA / "coffee.png").read_bytes()
    ihdr_end = 8 + 8 + 13 + 4
    return data[:ihdr_end] + chunk(b"acTL", bytes(8)) + data[ihdr_end:]


def dds_unknown_pixel_format() -> bytes:
    """A DDS header whose pixel format Pillow does not implement (NotImplementedError)."""
    header = bytearray(124)
    struct.pack_into("<7I", header, 0, 124, 0x1007, 64, 64, 0, 0, 0)
    struct.pack_into("<2I4s", header, 72, 32, 0x4, b"ZZZZ")  # FourCC no one knows
    return b"DDS " + bytes(header) + bytes(64)


def blp_unknown_encoding() -> bytes:
    """BLP1, palette compression, encoding 9: Pillow raises BLPFormatError."""
    return (b"BLP1" + struct.pack("<iIIIii", 1, 0, 64, 64, 9, 0) + bytes(128)
            + bytes(1024) + bytes(64))


def test_damaged_exif_is_classified_without_it(tmp_path):
    data = damaged_exif_jpeg()
    with Image.open(io.BytesIO(data)) as img, pytest.raises(struct.error):
        ImageOps.exif_transpose(img)  # the damage is real
    (tmp_path / "exif.jpg").write_bytes(data)
    stored = Image.open(DATA / "coffee.png").size
    # Pillow may have turned the pixels before failing to rewrite the EXIF: either is fine
    assert load_rgb(tmp_path / "exif.jpg").size in (stored, stored[::-1])


@pytest.mark.parametrize(("make", "reason"), [
    (dds_unknown_pixel_format, "cannot decode: unsupported variant: "),
    (blp_unknown_encoding, "cannot decode: unsupported variant: Unsupported BLP encoding 9"),
])
def test_unimplemented_formats_are_one_line(tmp_path, make, reason):
    (tmp_path / "x.img").write_bytes(make())
    with pytest.raises(InputError) as info:
        load_rgb(tmp_path / "x.img")
    assert str(info.value).startswith(reason)
    assert info.value.__context__ is None and info.value.__cause__ is None


@pytest.mark.parametrize(("exc", "reason"), [
    (MemoryError(), "refused: not enough memory to decode it"),
    (struct.error("unpack requires a buffer of 4 bytes"),
     "cannot decode: unpack requires a buffer of 4 bytes"),
    (NotImplementedError(), "cannot decode: unsupported variant: NotImplementedError"),
    (RuntimeError("line one\nline two"), "cannot decode: RuntimeError: line one line two"),
    (ValueError("x" * 500), "cannot decode: " + "x" * 182 + "..."),
])
def test_every_exception_is_one_line(exc, reason):
    assert failures.reason(exc) == reason


def test_failure_releases_the_frames_it_held():
    def decode() -> None:
        pixels = bytearray(10)  # noqa: F841 - what a failed decoder frame would keep
        try:
            raise OSError("inner")
        except OSError as inner:
            raise ValueError("outer") from inner

    try:
        decode()
    except ValueError as exc:
        frame = exc.__traceback__.tb_next.tb_frame
        assert "pixels" in frame.f_locals
        failures.reason(exc)
        assert exc.__traceback__ is None and exc.__cause__ is None
        assert "pixels" not in frame.f_locals


def test_hostile_decodes_through_the_cli(tmp_path):
    files = {"a_exif.jpg": damaged_exif_jpeg(), "b_apng.png": png_with_bad_apng_chunk(),
             "c.dds": dds_unknown_pixel_format(), "d.blp": blp_unknown_encoding()}
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    shutil.copy(DATA / "coffee.png", tmp_path / "e_good.png")
    run = resnet("predict", *SQUEEZE, "-f", "jsonl", "--glob", "*", str(tmp_path))
    records = {r["path"].rsplit("/", 1)[1]: r for r in run.records()}
    assert list(records) == ["a_exif.jpg", "b_apng.png", "c.dds", "d.blp", "e_good.png"]
    for name in ("a_exif.jpg", "b_apng.png", "e_good.png"):
        assert records[name]["predictions"][0]["label"] == "espresso", name
    assert records["c.dds"]["error"].startswith("cannot decode: unsupported variant")
    assert records["d.blp"]["error"].startswith("cannot decode: unsupported variant")
    assert run.returncode == 1
    assert run.stderr == ""  # Pillow's APNG and EXIF warnings are not anonymous lines
