"""``resnet predict`` end to end through Click, on real photos and the bundled model."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import CAT_CLASSES, COFFEE_CLASSES, SQUEEZE, invoke


def run(*args: str, input: str | bytes | None = None):
    return invoke(*args, input=input, catch_exceptions=False)


@pytest.mark.parametrize(("name", "expected"), [
    ("chelsea", CAT_CLASSES),
    ("coffee", COFFEE_CLASSES),
    ("grace_hopper", {"military uniform", "suit", "bow tie", "Windsor tie"}),
    ("rocket", {"missile", "projectile", "space shuttle", "pole"}),
])
def test_bundled_model_classifies_real_photos(name, expected, photos, cache):
    result = run("predict", *SQUEEZE, "--format", "json", str(photos[name]))
    assert result.exit_code == 0, result.output
    (record,) = json.loads(result.output)
    assert record["path"] == str(photos[name])
    assert record["model"] == "squeezenet1.1"
    preds = record["predictions"]
    assert [p["rank"] for p in preds] == [1, 2, 3, 4, 5]
    assert preds[0]["label"] in expected
    probs = [p["probability"] for p in preds]
    assert probs == sorted(probs, reverse=True) and 0 < sum(probs) <= 1 + 1e-9


def test_json_record_fields(photos, cache):
    result = run("predict", *SQUEEZE, "-f", "json", "-k", "3", str(photos["chelsea"]))
    (record,) = json.loads(result.output)
    assert set(record) == {"path", "model", "predictions"}
    first = record["predictions"][0]
    assert set(first) == {"rank", "index", "wnid", "label", "probability"}
    assert len(record["predictions"]) == 3
    assert first["wnid"].startswith("n0") and isinstance(first["index"], int)


def test_failed_input_is_an_error_record_and_the_rest_still_classified(photos, tmp_path, cache):
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"not a jpeg at all")
    result = invoke("predict", *SQUEEZE, "-f", "json", str(bad), str(photos["coffee"]))
    assert result.exit_code == 1
    first, second = json.loads(result.stdout)
    assert first == {"path": str(bad), "error": "not an image Pillow can read"}
    assert second["predictions"][0]["label"] in COFFEE_CLASSES


def test_plain_text_when_piped(photos, cache):
    result = run("predict", *SQUEEZE, "-k", "2", str(photos["coffee"]))
    lines = result.output.splitlines()
    assert lines[0] == str(photos["coffee"])
    assert lines[1].split()[0] == "1" and lines[1].split()[1] == "espresso"
    assert len(lines) == 3
    assert "│" not in result.output  # no table borders in a pipe


def test_table_on_a_terminal(photos, squeezenet):
    from io import StringIO

    from rich.console import Console

    from resnet_cli.output import TableWriter
    from resnet_cli.records import Record

    (preds,) = squeezenet.predict([photos["coffee"]], 5)
    out = StringIO()
    writer = TableWriter(out, 5, Console(file=out, force_terminal=True, width=100))
    writer.write(Record("[odd] name.png", "squeezenet1.1", predictions=preds))
    text = out.getvalue()
    assert "[odd] name.png" in text and "espresso" in text and "probability" in text


def test_weights_file_that_is_not_params_exit_2(photos, tmp_path, cache):
    junk = tmp_path / "junk.params"
    junk.write_bytes(b"garbage")
    result = invoke("predict", "--weights", str(junk), str(photos["chelsea"]))
    assert result.exit_code == 2
    assert result.stderr.startswith("Error: cannot load weights")
    assert len(result.stderr.strip().splitlines()) == 1


def test_weights_option_loads_a_gluon_params_file(photos, resnet18_params):
    result = run("predict", "--weights", str(resnet18_params), "-f", "json",
                 str(photos["rocket"]))
    assert result.exit_code == 0
    assert json.loads(result.output)[0]["model"] == "resnet18_v1"


def test_unknown_model_exit_2(photos, cache):
    result = invoke("predict", "--model", "resnet7", str(photos["chelsea"]))
    assert result.exit_code == 2
    assert "unknown model 'resnet7'" in result.stderr


def test_help_imports_no_inference_stack():
    heavy = ["numpy", "mxnet", "resnet_cli.engine", "resnet_cli.classifier", "rich.table"]
    code = ("import sys\nfrom click.testing import CliRunner\nfrom resnet_cli.cli import cli\n"
            "for args in (['--help'], ['predict', '--help'], ['weights', '--help']):\n"
            "    r = CliRunner().invoke(cli, args)\n    assert r.exit_code == 0, r.output\n"
            f"print([m for m in {heavy!r} if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize("command", ["predict", "eval"])
def test_help_lists_every_exit_code(command):
    from resnet_cli.errors import ExitCode

    text = run(command, "--help").output
    listed = re.findall(r"^\s+(\d+)\s+(.+)$", text.split("Exit codes:")[1], re.M)
    assert listed == [(str(code.value), code.meaning) for code in ExitCode]


def test_readme_exit_code_table_is_the_enum():
    from resnet_cli.errors import ExitCode

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    table = readme.split("### Exit codes")[1].split("\n\n#")[0]
    rows = re.findall(r"^\| (\d+) \| (.+) \|$", table, re.M)
    assert rows == [(str(code.value), code.meaning) for code in ExitCode]
