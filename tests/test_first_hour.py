"""What a new user hits in the first hour (issue 12), each checked the way they would hit it."""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys
from io import StringIO
from pathlib import Path

import pytest
from click.testing import CliRunner
from PIL import Image, features

from resnet_cli.cli import cli
from resnet_cli.inputs import image_extensions

SQUEEZE = ["--model", "squeezenet1.1"]


def invoke(*args: str, input: str | None = None):
    return CliRunner().invoke(cli, list(args), input=input, catch_exceptions=False)


def jsonl(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines()]


# 3. Models whose dense layers learn their input size on the first pass.
@pytest.mark.parametrize(("model", "size"), [("alexnet", 64), ("vgg11", 32), ("vgg11_bn", 32)])
def test_summary_of_deferred_models(model, size, cache):
    result = invoke("summary", "-m", model, "--input-size", str(size), "--classes", "10",
                    "-f", "json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    denses = [row for row in report["layers"] if row["kind"] == "Dense"]
    assert denses[-1]["output_shape"] == [1, 10]
    assert report["totals"]["parameters"] == sum(r["params"] for r in report["layers"]
                                                 if r["depth"] == 1)


# 4. eval with nothing to score.
def test_eval_with_nothing_to_score_is_an_error(tmp_path, cache):
    for folder in (tmp_path, tmp_path / "missing"):
        result = invoke("eval", *SQUEEZE, str(folder))
        assert result.exit_code == 2
        assert result.stderr.startswith(f"Error: nothing to score: {folder}: ")
        assert "top-1" not in result.stdout


# 5. Inputs that yield no images, and stdin on a terminal.
def test_input_without_images_yields_an_error_record(tmp_path, photos, cache):
    (tmp_path / "empty").mkdir()
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "readme.txt").write_text("no pictures here")
    (tmp_path / "one").mkdir()
    (tmp_path / "one" / "cat.png").write_bytes(photos["chelsea"].read_bytes())
    result = invoke("predict", *SQUEEZE, "-f", "jsonl", str(tmp_path / "empty"),
                    str(tmp_path / "notes"), str(tmp_path / "one"))
    assert result.exit_code == 1
    records = jsonl(result.stdout)
    assert [r.get("error") for r in records] == [
        "no images found (no file with an image extension)",
        "no images found (no file with an image extension)", None]
    result = invoke("predict", *SQUEEZE, "-f", "jsonl", "--glob", "*.jpeg",
                    str(tmp_path / "one"))
    assert jsonl(result.stdout) == [{"path": str(tmp_path / "one"),
                                     "error": "no images found (no file matches '*.jpeg')"}]
    result = invoke("predict", *SQUEEZE, "-f", "jsonl", "-", input="")
    assert jsonl(result.stdout) == [{"path": "-", "error": "no images found (no paths on stdin)"}]


def test_stdin_on_a_terminal_says_what_it_waits_for(photos, cache):
    primary, secondary = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "resnet_cli", "predict", *SQUEEZE, "-f", "jsonl", "-"],
        stdin=secondary, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        env={**os.environ, "RESNET_HOME": str(cache)})
    os.close(secondary)
    os.write(primary, str(photos["coffee"]).encode() + b"\n\x04")  # a path, then Ctrl-D
    out, err = proc.communicate(timeout=120)
    os.close(primary)
    assert proc.returncode == 0, err
    assert err.decode().splitlines()[0] == (
        "reading image paths from stdin (one per line); end with Ctrl-D")
    assert jsonl(out.decode())[0]["predictions"][0]["label"] == "espresso"


# 6. Folder walks take every format Pillow decodes.
def test_default_extensions_come_from_pillow():
    extensions = image_extensions()
    assert {".avif", ".jp2", ".psd", ".sgi", ".mpo", ".qoi", ".jpg", ".png"} <= extensions
    assert not {".h5", ".pdf", ".mpg", ".grib", ".txt"} & extensions
    assert extensions <= set(Image.registered_extensions())


def test_folder_walk_classifies_formats_beyond_the_old_list(tmp_path, photos, cache):
    cat = Image.open(photos["chelsea"]).convert("RGB")
    written = [".sgi", ".mpo", ".qoi", ".pcx", ".dds"]
    written += [".jp2"] if features.check("jpg_2000") else []
    written += [".avif"] if features.check("avif") else []
    for ext in written:
        cat.save(tmp_path / f"cat{ext}")
    cat.save(tmp_path / "cat.pdf")  # Pillow writes PDF but cannot read it back
    (tmp_path / "data.h5").write_bytes(b"\x89HDF\r\n\x1a\n" + bytes(100))
    result = invoke("predict", *SQUEEZE, "-f", "jsonl", str(tmp_path))
    assert result.exit_code == 0, result.output
    records = jsonl(result.stdout)
    assert sorted(Path(r["path"]).suffix for r in records) == sorted(written)
    assert all(r["predictions"][0]["label"] in {"tabby", "tiger cat", "Egyptian cat"}
               for r in records)


# 7. build: random weights and overwriting only when asked.
def test_build_needs_a_weight_choice_and_force_to_overwrite(tmp_path, photos, cache):
    out = tmp_path / "sq"
    result = invoke("build", *SQUEEZE, "--out", str(out))
    assert result.exit_code == 2 and "--random-init" in result.output and not out.exists()
    result = invoke("build", *SQUEEZE, "--random-init", "--pretrained", "--out", str(out))
    assert result.exit_code == 2
    assert invoke("build", *SQUEEZE, "--random-init", "--out", str(out)).exit_code == 0
    assert json.loads((out / "metadata.json").read_text())["weights"] is None
    before = (out / "model-0000.params").read_bytes()
    result = invoke("build", *SQUEEZE, "--pretrained", "--out", str(out))
    assert result.exit_code == 2 and "--force" in result.stderr
    assert (out / "model-0000.params").read_bytes() == before
    assert invoke("build", *SQUEEZE, "--pretrained", "--force", "--out",
                  str(out)).exit_code == 0
    assert (out / "model-0000.params").read_bytes() != before
    records = jsonl(invoke("predict", "--model-dir", str(out), "-f", "jsonl",
                           str(photos["coffee"])).stdout)
    assert records[0]["predictions"][0]["label"] == "espresso"


# 8. --model-dir names the model: -m or --weights beside it is a usage error.
def test_model_dir_with_model_or_weights_is_a_usage_error(tmp_path, photos, cache):
    out = tmp_path / "sq"
    assert invoke("build", *SQUEEZE, "--pretrained", "--out", str(out)).exit_code == 0
    for extra in (["-m", "squeezenet1.1"], ["--weights", str(out / "model-0000.params")]):
        result = invoke("predict", "--model-dir", str(out), *extra, str(photos["coffee"]))
        assert result.exit_code == 2 and "already names the model" in result.output
    result = invoke("summary", "--model-dir", str(out), "-m", "alexnet")
    assert result.exit_code == 2 and "drop -m/--model" in result.output


# 10. Small but visible.
def test_unknown_model_suggests_the_closest_name(cache):
    result = invoke("predict", "-m", "resnet50", "x.jpg")
    assert result.exit_code == 2
    assert "unknown model 'resnet50'; did you mean resnet50_v1? known:" in result.stderr
    assert "did you mean" not in invoke("predict", "-m", "qqqq", "x.jpg").stderr


def test_url_inputs_are_named_as_such(cache):
    result = invoke("predict", *SQUEEZE, "-f", "jsonl", "https://example.com/cat.jpg")
    assert result.exit_code == 1
    assert jsonl(result.stdout)[0]["error"].startswith("URLs are not inputs (yet)")


@pytest.mark.parametrize("args", [["weights", "list"], ["summary", "-m", "squeezenet1.1"]])
def test_tables_are_plain_text_in_a_pipe(args, cache):
    result = invoke(*args)
    assert result.exit_code == 0
    assert not set("┃│━─┏└") & set(result.stdout)
    lines = result.stdout.splitlines()
    if args[0] == "weights":
        row = next(line for line in lines if line.startswith("squeezenet1.1 "))
        assert row.split()[-1].endswith("squeezenet1.1.params")  # whole path, last column
    else:
        assert any(line.split()[:2] == ["total", "parameters"] and "1,235,496" in line
                   for line in lines)


class Terminal(StringIO):
    def isatty(self) -> bool:
        return True


def test_long_paths_are_not_broken_on_a_terminal(monkeypatch, tmp_path):
    from rich.console import Console

    from resnet_cli.engine import Record
    from resnet_cli.output import TableWriter
    from resnet_cli.render import weights_table

    monkeypatch.setenv("COLUMNS", "150")
    path = "/home/somebody/" + "very_long_folder_name/" * 4 + "cached-weights.params"
    screen = Terminal()
    weights_table([{"model": "resnet18_v1", "source": "gluon-zoo", "checksum": "sha1:ab12",
                    "size": None, "cached": False, "path": path}], screen)
    assert path in screen.getvalue() and "┃" in screen.getvalue()
    screen = Terminal()
    long_photo = "/photos/" + "holiday_in_the_mountains_" * 5 + ".jpg"
    writer = TableWriter(screen, 1, Console(file=screen, force_terminal=True, width=60))
    writer.write(Record(long_photo, "squeezenet1.1", predictions=[]))
    assert long_photo in screen.getvalue()
