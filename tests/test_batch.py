"""Batch runs: folders, stdin, broken files, streaming formats, pipes and Ctrl-C."""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time
import zlib
from pathlib import Path

import pytest
from helpers import SQUEEZE, invoke, jsonl, spawn

from resnet_cli.inputs import expand
from resnet_cli.records import Source


def predict(*args: str, input: bytes | str | None = None):
    return invoke("predict", *SQUEEZE, *args, input=input)


def png_bomb_header(path: Path, side: int = 100_000) -> None:
    """A PNG whose header claims side x side pixels: Pillow must refuse it, not allocate."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(
            ">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    ihdr = struct.pack(">IIBBBBB", side, side, 8, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IEND", b""))


@pytest.fixture
def mixed(tmp_path, photos) -> Path:
    """Real photos mixed with every kind of broken input."""
    root = tmp_path / "mixed"
    (root / "sub").mkdir(parents=True)
    shutil.copy(photos["coffee"], root / "a_coffee.png")
    shutil.copy(photos["chelsea"], root / "sub" / "b_cat.png")
    (root / "c_empty.jpg").write_bytes(b"")
    data = photos["grace_hopper"].read_bytes()
    (root / "d_truncated.jpg").write_bytes(data[: len(data) // 3])
    (root / "e_text.jpg").write_text("this is not a picture\n")
    (root / "f_dir.jpg").mkdir()
    png_bomb_header(root / "g_bomb.png")
    (root / "notes.txt").write_text("ignored: not an image extension")
    return root


def test_folder_with_broken_files_yields_one_record_each(mixed, cache):
    result = predict("-f", "jsonl", str(mixed))
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    records = jsonl(result.stdout)
    names = [os.path.relpath(r["path"], mixed) for r in records]
    # sorted walk; the folder named f_dir.jpg is walked (and empty), notes.txt skipped
    assert names == ["a_coffee.png", "c_empty.jpg", "d_truncated.jpg", "e_text.jpg",
                     "g_bomb.png", os.path.join("sub", "b_cat.png")]
    by_name = dict(zip(names, records, strict=True))
    assert by_name["a_coffee.png"]["predictions"][0]["label"] == "espresso"
    assert "predictions" in by_name[os.path.join("sub", "b_cat.png")]
    for name in ("c_empty.jpg", "e_text.jpg"):
        assert by_name[name]["error"] == "not an image Pillow can read"
    assert by_name["d_truncated.jpg"]["error"].startswith("cannot decode")
    assert "exceeds limit" in by_name["g_bomb.png"]["error"]
    for r in records:
        assert "\n" not in r.get("error", "")


def test_stdin_paths_are_literal_inputs_including_a_directory(mixed, cache):
    paths = [mixed / "a_coffee.png", mixed / "f_dir.jpg", mixed / "nope.jpg"]
    result = predict("-f", "jsonl", "-", input="".join(f"{p}\n" for p in paths))
    assert result.exit_code == 1
    records = jsonl(result.stdout)
    assert [r["path"] for r in records] == [str(p) for p in paths]
    assert records[1]["error"] == "is a directory"
    assert records[2]["error"] == "no such file"


def test_null_separated_stdin(tmp_path, photos, cache):
    odd = tmp_path / "line\nbreak.png"
    shutil.copy(photos["coffee"], odd)
    result = predict("-f", "jsonl", "-0", "-", input=f"{odd}\0{photos['chelsea']}\0".encode())
    assert result.exit_code == 0
    assert [r["path"] for r in jsonl(result.stdout)] == [str(odd), str(photos["chelsea"])]


def test_glob_selects_files_in_folders(mixed, cache):
    result = predict("-f", "jsonl", "--glob", "*.png", str(mixed))
    names = [Path(r["path"]).name for r in jsonl(result.stdout)]
    assert names == ["a_coffee.png", "g_bomb.png", "b_cat.png"]


def test_all_good_exit_0_and_order_follows_arguments(photos, cache):
    args = [str(photos[n]) for n in ("rocket", "coffee", "chelsea", "coffee")]
    result = predict("-f", "jsonl", "-b", "3", *args)
    assert result.exit_code == 0
    assert [r["path"] for r in jsonl(result.stdout)] == args


def test_symlink_loop_is_reported_not_fatal(tmp_path, photos, cache):
    root = tmp_path / "loop"
    root.mkdir()
    shutil.copy(photos["coffee"], root / "a.png")
    (root / "again").symlink_to(root)
    result = predict("-f", "jsonl", str(root))
    assert result.exit_code == 1
    records = jsonl(result.stdout)
    assert records[0]["path"] == str(root / "a.png") and "predictions" in records[0]
    assert records[1] == {"path": str(root / "again"),
                          "error": "symlink loop: folder contains itself"}
    assert len(records) == 2


def test_unreadable_folder_is_reported_not_fatal():
    # Outside pytest's private tmp (mode 700), so the unprivileged user can reach it.
    base = Path(tempfile.mkdtemp(prefix="resnet-perm-"))
    base.chmod(0o755)
    (base / "locked").mkdir()
    (base / "locked" / "x.jpg").write_bytes(b"")
    (base / "open").mkdir()
    (base / "open" / "y.jpg").write_bytes(b"")
    (base / "locked").chmod(0)
    code = ("import sys; from resnet_cli.inputs import expand\n"
            "for s in expand([sys.argv[1]]): print(s.path, '|', s.error)")
    cmd = [sys.executable, "-c", code, str(base)]
    if os.geteuid() == 0:  # root reads anything: drop the capabilities that let it
        # (staying root, so an interpreter under /root, as pyenv's 3.12 is, still runs)
        cmd = ["setpriv", "--bounding-set=-dac_override,-dac_read_search", *cmd]
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, check=True, cwd="/").stdout
    finally:
        (base / "locked").chmod(0o755)
        shutil.rmtree(base)
    assert out.splitlines() == [f"{base / 'locked'} | cannot read folder: Permission denied",
                                f"{base / 'open' / 'y.jpg'} | None"]


def test_expand_reports_missing_paths():
    assert list(expand(["/no/such/thing.jpg"])) == [Source("/no/such/thing.jpg",
                                                           "no such file or folder")]


WEIRD_NAMES = ["with space.png", "comma,name.png", "tab\tname.png", "new\nline.png",
               'quote"d.png']


@pytest.mark.parametrize("fmt", ["csv", "tsv"])
def test_delimited_output_quotes_any_file_name(fmt, tmp_path, photos, cache):
    for name in WEIRD_NAMES:
        shutil.copy(photos["coffee"], tmp_path / name)
    result = predict("-f", fmt, "-k", "2", str(tmp_path))
    assert result.exit_code == 0
    rows = list(csv.reader(io.StringIO(result.stdout), delimiter="," if fmt == "csv" else "\t"))
    assert rows[0] == ["path", "model", "error", "label_1", "probability_1", "label_2",
                       "probability_2"]
    assert sorted(Path(r[0]).name for r in rows[1:]) == sorted(WEIRD_NAMES)
    for row in rows[1:]:
        assert row[1] == "squeezenet1.1" and row[3] == "espresso"
        assert 0.9 < float(row[4]) <= 1


def test_non_utf8_file_name_is_escaped_in_every_format(tmp_path, photos, cache):
    raw = os.path.join(os.fsencode(tmp_path), b"caf\xe9.png")
    shutil.copy(photos["coffee"], raw)
    for fmt in ("jsonl", "csv", "tsv", "table"):
        result = predict("-f", fmt, str(tmp_path))
        assert result.exit_code == 0, (fmt, result.output)
        text = jsonl(result.stdout)[0]["path"] if fmt == "jsonl" else result.stdout
        assert "caf\\xe9.png" in text


def test_json_array_stays_valid_with_errors(tmp_path, photos, cache):
    (tmp_path / "bad.png").write_bytes(b"\x89PNG broken")
    result = predict("-f", "json", str(tmp_path / "bad.png"), str(photos["rocket"]))
    data = json.loads(result.stdout)
    assert [("error" in r) for r in data] == [True, False]


def test_progress_bar_only_on_a_terminal(photos, cache):
    # CliRunner's stderr is not a terminal: nothing but records may appear.
    result = predict("-f", "jsonl", str(photos["coffee"]))
    assert result.stderr == ""


def test_head_closes_the_pipe_quietly(photos, cache):
    proc = spawn("-f", "jsonl", "-b", "2", *[str(photos["coffee"])] * 40)
    first = proc.stdout.readline()
    proc.stdout.close()
    assert proc.wait(timeout=60) == 141
    assert json.loads(first)["predictions"][0]["label"] == "espresso"
    assert proc.stderr.read() == b""


def test_ctrl_c_stops_promptly_and_keeps_written_records(photos, tmp_path, cache):
    listing = tmp_path / "paths.txt"
    listing.write_text(f"{photos['coffee']}\n" * 5000)
    with listing.open("rb") as stdin:
        proc = spawn("-f", "jsonl", "-b", "4", "-", stdin=stdin)
    lines = [proc.stdout.readline() for _ in range(3)]  # the run is under way
    proc.send_signal(signal.SIGINT)
    start = time.monotonic()
    rest, err = proc.communicate(timeout=30)
    assert time.monotonic() - start < 5
    assert proc.returncode == 130
    records = [json.loads(line) for line in [*lines, *rest.splitlines()]]
    assert 3 <= len(records) < 5000
    assert all(r["predictions"][0]["label"] == "espresso" for r in records)
    assert err.decode().strip() == "Interrupted."
