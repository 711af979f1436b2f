"""Tampered model directories: validated as a whole before use, one line, exit 2.

Each case edits a real directory written by ``resnet build`` and, like a careless or
hostile editor, rewrites SHA256SUMS to match, so the checksums alone cannot catch it.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner
from weights_helpers import one_line

from resnet_cli import modeldir
from resnet_cli.build import build_dir
from resnet_cli.cli import cli

Edit = Callable[[Path], None]


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Callable[[int], Path]:
    """SqueezeNet 1.1 directories with random weights, one per head size, built once."""
    made: dict[int, Path] = {}

    def get(classes: int) -> Path:
        if classes not in made:
            out = tmp_path_factory.mktemp("built") / f"sq{classes}"
            build_dir("squeezenet1.1", classes, None, out, None, 0, lambda _m: None)
            made[classes] = out
        return made[classes]
    return get


def resum(path: Path, binary: bool = False) -> None:
    mark = "*" if binary else " "
    (path / "SHA256SUMS").write_text("".join(
        f"{hashlib.sha256((path / f).read_bytes()).hexdigest()} {mark}{f}\n"
        for f in sorted(p.name for p in path.iterdir() if p.name != modeldir.SUMS)))


def tampered(source: Path, dest: Path, edit: Edit) -> Path:
    shutil.copytree(source, dest)
    edit(dest)
    if not (dest / "SHA256SUMS").read_bytes().startswith(b"#keep"):
        resum(dest)
    return dest


def metadata(**changes: object) -> Edit:
    def edit(path: Path) -> None:
        data = json.loads((path / "metadata.json").read_text())
        for key, value in changes.items():
            target, _, leaf = key.rpartition("__")
            holder = data[target] if target else data
            if value is DELETE:
                del holder[leaf]
            else:
                holder[leaf] = value
        (path / "metadata.json").write_text(json.dumps(data))
    return edit


DELETE = object()


def labels(count: int | None = None, text: str | None = None) -> Edit:
    def edit(path: Path) -> None:
        body = text if text is not None else "".join(
            f"{i}\tn{i:08d}\tclass {i}\n" for i in range(count or 0))
        (path / "labels.tsv").write_text(body)
    return edit


def raw(filename: str, data: bytes) -> Edit:
    def edit(path: Path) -> None:
        (path / filename).write_bytes(data)
    return edit


def both(*edits: Edit) -> Edit:
    def edit(path: Path) -> None:
        for e in edits:
            e(path)
    return edit


CASES: dict[str, tuple[int, Edit, str]] = {
    # (classes of the graph, edit, reason)
    "10-output graph, 1000 labels": (10, both(metadata(classes=1000), labels(1000)),
                                     "the graph outputs 10 scores per image, labels.tsv and "
                                     "metadata.json have 1000 classes"),
    "2000-class graph, 1000 labels": (2000, both(metadata(classes=1000), labels(1000)),
                                      "the graph outputs 2000 scores per image"),
    "labels with 10 lines": (1000, labels(10), "labels.tsv has 10 classes, metadata.json "
                                               "says 1000"),
    "empty labels": (1000, labels(text=""), "labels.tsv has 0 classes"),
    "999 labels": (1000, labels(999), "labels.tsv has 999 classes"),
    "labels out of order": (1000, labels(text="1\tn1\tone\n0\tn0\tzero\n"),
                            "labels.tsv line 1 is not '0<TAB>WNID<TAB>NAME'"),
    "labels not UTF-8": (1000, raw("labels.tsv", b"0\tn0\t\xff\n"),
                         "labels.tsv is not UTF-8 text (byte 5)"),
    "crop 0": (1000, metadata(preprocessing__crop=0), "preprocessing.crop 0 is not an integer"),
    "crop -5": (1000, metadata(preprocessing__crop=-5), "preprocessing.crop -5"),
    "crop 1e9": (1000, metadata(preprocessing__crop=10**9), "preprocessing.crop 1000000000"),
    "crop a string": (1000, metadata(preprocessing__crop="224"), "preprocessing.crop '224'"),
    "crop 224.5": (1000, metadata(preprocessing__crop=224.5), "preprocessing.crop 224.5"),
    "crop a boolean": (1000, metadata(preprocessing__crop=True), "preprocessing.crop True"),
    "crop beyond resize": (1000, metadata(preprocessing__crop=300),
                           "preprocessing.resize 256 is not an integer from the crop (300)"),
    "no resize": (1000, metadata(preprocessing__resize=DELETE), "preprocessing.resize None"),
    "no name": (1000, metadata(name=DELETE), "name None is not a non-empty printable string"),
    "name with a newline": (1000, metadata(name="a\nb"), "name 'a\\nb'"),
    "classes 0": (1000, metadata(classes=0), "classes 0 is not an integer from 1 to"),
    "classes -3": (1000, metadata(classes=-3), "classes -3"),
    "classes 1e9": (1000, metadata(classes=10**9), "classes 1000000000"),
    "std of zero": (1000, metadata(preprocessing__std=[0, 1, 1]), "preprocessing.std"),
    "metadata a list": (1000, raw("metadata.json", b"[1]"), "metadata.json: not a JSON object"),
    "metadata not JSON": (1000, raw("metadata.json", b"{"), "metadata.json is not JSON"),
    "SHA256SUMS not UTF-8": (1000, raw("SHA256SUMS", b"#keep\n\xff\n"),
                             "SHA256SUMS is not UTF-8 text (byte 6)"),
    "SHA256SUMS garbage line": (1000, raw("SHA256SUMS", b"#keep\n"),
                                "SHA256SUMS line 1 is not 'SHA256  NAME'"),
}


@pytest.mark.parametrize("case", CASES)
def test_tampered_model_dir_is_one_setup_error(case, built, tmp_path, photos, cache):
    classes, edit, reason = CASES[case]
    path = tampered(built(classes), tmp_path / "dir", edit)
    result = CliRunner().invoke(cli, ["predict", "--model-dir", str(path), "-f", "jsonl",
                                      str(photos["coffee"])])
    line = one_line(result.stderr)
    assert result.exit_code == 2 and result.stdout == "", result.output
    assert line.startswith(f"Error: model dir {path}: ") and reason in line, line


def test_summary_and_explain_refuse_the_same_directories(built, tmp_path, photos, cache):
    bad_crop = tampered(built(1000), tmp_path / "crop", metadata(preprocessing__crop="224"))
    summary = CliRunner().invoke(cli, ["summary", "--model-dir", str(bad_crop)])
    assert summary.exit_code == 2 and "preprocessing.crop '224'" in one_line(summary.stderr)
    wrong_head = tampered(built(10), tmp_path / "head",
                          both(metadata(classes=1000), labels(1000)))
    explain = CliRunner().invoke(cli, ["explain", "--model-dir", str(wrong_head),
                                       "-o", str(tmp_path / "maps"), str(photos["coffee"])])
    assert explain.exit_code == 2 and "the graph outputs 10 scores" in one_line(explain.stderr)


def test_both_sha256sum_styles_are_accepted(built, tmp_path, photos, cache):
    """Text mode (two spaces) as written by build, binary mode ('*name') as ``sha256sum -b``
    writes it; and ``sha256sum -c`` accepts the file build writes."""
    path = shutil.copytree(built(1000), tmp_path / "b")
    check = subprocess.run(["sha256sum", "-c", "--quiet", "SHA256SUMS"], cwd=path)
    assert check.returncode == 0
    made = subprocess.run(["sha256sum", "-b", *modeldir.FORMATS["mxnet"], *modeldir.REQUIRED],
                          cwd=path,
                          capture_output=True, text=True, check=True).stdout
    assert " *model-symbol.json" in made
    (path / "SHA256SUMS").write_text(made)
    result = CliRunner().invoke(cli, ["predict", "--model-dir", str(path), "-f", "jsonl",
                                      str(photos["coffee"])])
    assert result.exit_code == 0, result.output
    assert len(json.loads(result.stdout)["predictions"]) == 5
