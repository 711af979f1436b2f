"""Output faults end in one line and exit 74; names and labels cannot drive a terminal."""

from __future__ import annotations

import csv
import io
import json
import os
import resource
import shutil
import signal

import pytest
from hostile_proc import DATA, SQUEEZE, resnet
from rich.console import Console

from resnet_cli.errors import ExitCode
from resnet_cli.output import TableWriter, make_writer
from resnet_cli.records import Prediction, Record

COFFEE = str(DATA / "coffee.png")


@pytest.mark.parametrize("args", [
    ("predict", *SQUEEZE, COFFEE),
    ("predict", *SQUEEZE, "-f", "json", COFFEE),
    ("weights", "list"),
    ("--help",),
])
def test_full_device_is_one_line_and_exit_74(args):
    with open("/dev/full", "w") as full:
        run = resnet(*args, stdout=full)
    assert run.returncode == ExitCode.OUTPUT == 74
    assert run.stderr == "Error: writing output: No space left on device\n"


def test_closed_stdout_is_one_line_and_exit_74():
    run = resnet("predict", *SQUEEZE, COFFEE, stdout=None, pass_fds=(),
                 preexec_fn=lambda: os.close(1))
    assert run.returncode == 74
    assert run.stderr == "Error: writing output: stdout is closed\n"


def _close_stdin_and_stderr() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    os.close(0)
    os.close(2)


def test_closed_stdin_and_stderr_are_not_reused(tmp_path):
    run = resnet("predict", *SQUEEZE, "-f", "jsonl", COFFEE, "-", str(tmp_path / "gone.png"),
                 stdin=None, preexec_fn=_close_stdin_and_stderr)
    assert run.returncode == 1  # stdin reads as empty, the missing file stays missing
    assert [r.get("error") for r in run.records()] == [
        None, "no images found (no paths on stdin)", "no such file or folder"]


def _small_file_limit() -> None:
    """A disk that fills up mid-run: writes past 3 KB fail (EFBIG, SIGXFSZ ignored)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (3000, 3000))


def test_disk_filling_up_mid_run_keeps_the_records_written(tmp_path):
    out = tmp_path / "out.jsonl"
    with out.open("w") as stream:
        run = resnet("predict", *SQUEEZE, "-f", "jsonl", "-b", "1", *[COFFEE] * 12,
                     stdout=stream, preexec_fn=_small_file_limit)
    assert run.returncode == 74
    assert run.stderr == "Error: writing output: File too large\n"
    lines = out.read_text().splitlines()
    whole = [json.loads(line) for line in lines[:-1]]  # the last one met the full disk
    assert 2 <= len(whole) < 12
    assert all(r["predictions"][0]["label"] == "espresso" for r in whole)


FORGED = "x\nforged.png: error: \x1b[31mfake"


@pytest.fixture
def forged_name(tmp_path):
    shutil.copy(DATA / "coffee.png", tmp_path / FORGED)
    (tmp_path / "bell\x07.png").write_bytes(b"not an image")
    return tmp_path


def test_control_characters_are_escaped_in_text_output(forged_name):
    run = resnet("predict", *SQUEEZE, "-k", "1", "--glob", "*", str(forged_name))
    lines = run.stdout.splitlines()
    assert lines[0] == f"{forged_name}/bell\\x07.png: error: not an image Pillow can read"
    assert lines[1] == f"{forged_name}/x\\x0aforged.png: error: \\x1b[31mfake"  # a name
    assert lines[2].split() == ["1", "espresso", "0.9659"]
    assert len(lines) == 3 and "\x1b" not in run.stdout and "\x07" not in run.stdout


@pytest.mark.parametrize("fmt", ["csv", "tsv"])
def test_delimited_output_quotes_newlines_and_escapes_the_rest(forged_name, fmt):
    run = resnet("predict", *SQUEEZE, "-k", "1", "-f", fmt, "--glob", "*", str(forged_name))
    rows = list(csv.reader(io.StringIO(run.stdout), delimiter="," if fmt == "csv" else "\t"))
    names = [os.path.basename(row[0]) for row in rows[1:]]
    assert names == ["bell\\x07.png", "x\nforged.png: error: \\x1b[31mfake"]


def test_labels_and_errors_are_escaped_on_a_terminal():
    stream = io.StringIO()
    writer = TableWriter(stream, 1, Console(file=stream, force_terminal=True, width=200))
    evil = Prediction(1, 0, "n0\x1b]0;", "tench\x1b[2J\u202eevil", 0.5)
    writer.write(Record("a\x1b[31m.png", "m", predictions=[evil]))
    writer.write(Record("b.png", "m", error="bad\x1b[2J"))
    text = stream.getvalue()
    assert "tench\\x1b[2J\\u202eevil" in text and "a\\x1b[31m.png" in text
    assert "bad\\x1b[2J" in text and "n0\\x1b]0;" in text
    assert "\x1b[2J" not in text and "\u202e" not in text


def test_json_formats_keep_names_exact():
    stream = io.StringIO()
    writer = make_writer("jsonl", stream, 1, terminal=False)
    writer.write(Record("a\x1b\n.png", "m", error="e"))
    assert json.loads(stream.getvalue())["path"] == "a\x1b\n.png"
