"""Non-regular files (FIFOs, devices, sockets) are refused before they are opened: no hang."""

from __future__ import annotations

import os
import shutil
import socket

import pytest
from hostile_proc import DATA, SQUEEZE, resnet

from resnet_cli.errors import InputError
from resnet_cli.files import open_regular
from resnet_cli.preprocess import load_rgb

NOT_REGULAR = "not a regular file"


@pytest.fixture
def hostile_dir(tmp_path):
    """A folder whose image-named entries are a FIFO, a socket and a link to /dev/zero."""
    root = tmp_path / "d"
    root.mkdir()
    os.mkfifo(root / "a_fifo.jpg")
    shutil.copy(DATA / "coffee.png", root / "b_good.png")
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(root / "c_socket.png"))
    os.symlink("/dev/zero", root / "d_zero.jpg")
    yield root
    server.close()


def test_every_non_regular_input_gets_one_record_and_nothing_hangs(hostile_dir, tmp_path):
    loose = tmp_path / "loose.jpg"
    os.mkfifo(loose)
    listed = tmp_path / "listed.png"
    os.mkfifo(listed)
    stdin = tmp_path / "stdin.txt"
    stdin.write_text(f"{listed}\n/dev/zero\n{DATA / 'coffee.png'}\n")
    with stdin.open("rb") as paths:
        run = resnet("predict", *SQUEEZE, "-f", "jsonl", str(hostile_dir), str(loose),
                     "/dev/zero", "/dev/null", "-", stdin=paths, timeout=300)
    records = run.records()
    assert [os.path.basename(r["path"]) for r in records] == [
        "a_fifo.jpg", "b_good.png", "c_socket.png", "d_zero.jpg", "loose.jpg", "zero", "null",
        "listed.png", "zero", "coffee.png"]
    for record in records:
        if record["path"].endswith(("b_good.png", "coffee.png")):
            assert record["predictions"][0]["label"] == "espresso"
        else:
            assert record["error"] == NOT_REGULAR, record
    assert run.returncode == 1
    assert run.stderr == ""
    assert run.returncode != -9  # not killed at the timeout: before, the run never ended


def test_open_regular_refuses_before_opening(tmp_path):
    fifo = tmp_path / "f.png"
    os.mkfifo(fifo)
    for path in (fifo, "/dev/zero", "/dev/null"):
        with pytest.raises(InputError, match=NOT_REGULAR):
            open_regular(path)
        with pytest.raises(InputError, match=NOT_REGULAR):
            load_rgb(path)
    with open_regular(DATA / "coffee.png") as stream:
        assert stream.read(8) == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(InputError, match="no such file"):
        load_rgb(tmp_path / "missing.png")
