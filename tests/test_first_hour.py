"""What a new user hits in the first hour (issue 12), each checked the way they would hit it."""

from __future__ import annotations

import hashlib
import json
import os
import pty
import subprocess
import sys
from io import StringIO
from pathlib import Path

import numpy as np
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
    out, err = proc.communicate(timeout=600)  # a cold MXNet start on a loaded machine
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

    from resnet_cli.output import TableWriter
    from resnet_cli.records import Record
    from resnet_cli.render import weights_table
    from resnet_cli.weights.cache import Status

    monkeypatch.setenv("COLUMNS", "150")
    path = "/home/somebody/" + "very_long_folder_name/" * 4 + "cached-weights.params"
    screen = Terminal()
    weights_table([Status("resnet18_v1", "gluon-zoo", "sha1:ab12", None, False, path)], screen)
    assert path in screen.getvalue() and "┃" in screen.getvalue()
    screen = Terminal()
    long_photo = "/photos/" + "holiday_in_the_mountains_" * 5 + ".jpg"
    writer = TableWriter(screen, 1, Console(file=screen, force_terminal=True, width=60))
    writer.write(Record(long_photo, "squeezenet1.1", predictions=[]))
    assert long_photo in screen.getvalue()


# 9. weights commands agree; torch files load the safe way everywhere.
def test_bundled_weights_verify_ok():
    result = invoke("weights", "verify", "squeezenet1.1")
    assert result.exit_code == 0 and result.stdout == "squeezenet1.1: OK\n"


def torchvision_resnet18(tmp_path: Path) -> tuple[dict[str, np.ndarray], Path]:
    """A random ResNet-18 in torchvision's names, and the same in a Gluon .params."""
    from resnet_cli import params
    from resnet_cli.convert import gluon_name
    from resnet_cli.network import resnet18
    from resnet_cli.runtime import mxnet

    mx = mxnet()
    net = resnet18()
    net.initialize(mx.init.Xavier())
    net(mx.nd.zeros((1, 3, 224, 224)))
    gluon = {k: v.data().asnumpy() for k, v in net._collect_params_with_prefix().items()}
    bn = ["weight", "bias", "running_mean", "running_var"]
    names = ["conv1.weight", *(f"bn1.{k}" for k in bn), "fc.weight", "fc.bias"]
    for stage in range(1, 5):
        for block in range(2):
            parts = {"conv1": ["weight"], "bn1": bn, "conv2": ["weight"], "bn2": bn}
            if stage > 1 and block == 0:
                parts |= {"downsample.0": ["weight"], "downsample.1": bn}
            names += [f"layer{stage}.{block}.{p}.{k}" for p, ks in parts.items() for k in ks]
    state = {name: gluon[gluon_name(name)] for name in names}
    params.save(gluon, tmp_path / "gluon.params")
    return state, tmp_path / "gluon.params"


def write_pth(state: dict[str, np.ndarray], path: Path) -> Path:
    """torch.save's zip layout, without torch (tests/hostile/weights_helpers.py)."""
    from hostile.weights_helpers import Pth, View, state_dict, tensor

    views, storages = {}, {}
    for i, (name, array) in enumerate(state.items()):
        strides = tuple(s // 4 for s in np.ascontiguousarray(array).strides)
        views[name] = tensor(View(str(i), 0, array.shape, strides, array.size))
        storages[str(i)] = np.ascontiguousarray(array, dtype="<f4").tobytes()
    return Pth(state_dict(views), storages).write(path)


def test_torch_files_as_weights_load_like_import(tmp_path, photos):
    from safetensors.numpy import save_file

    state, gluon = torchvision_resnet18(tmp_path)
    pth = write_pth(state, tmp_path / "mine.pth")
    tensors = tmp_path / "mine.safetensors"
    save_file(state, str(tensors))
    outputs = []
    for weights in (gluon, pth, tensors):
        result = invoke("predict", "-m", "resnet18", "--weights", str(weights), "-k", "3",
                        "-f", "json", str(photos["coffee"]))
        assert result.exit_code == 0, result.output
        outputs.append(json.loads(result.stdout)[0]["predictions"])
    assert outputs[1] == outputs[0] and outputs[2] == outputs[0]
    assert not list((tmp_path / "resnet-home").glob(".convert-*"))  # temporaries removed


def test_import_warns_when_a_torchvision_name_lies(tmp_path):
    state, _ = torchvision_resnet18(tmp_path)
    liar = write_pth(state, tmp_path / "resnet18-f37072fd.pth")
    result = invoke("weights", "import", str(liar), "--model", "resnet18")
    assert result.exit_code == 0, result.output
    real = hashlib.sha256(liar.read_bytes()).hexdigest()
    assert result.stderr == (
        f"warning: resnet18-f37072fd.pth: its SHA-256 starts {real[:8]}, not f37072fd as its "
        f"name says: not the published file (recording its real SHA-256 {real})\n")
    record = json.loads((tmp_path / "resnet-home" / "resnet18_v1.json").read_text())
    assert record["source_sha256"] == real and "not the published file" in record["warning"]
    honest = tmp_path / f"resnet18-{real[:8]}.pth"
    liar.rename(honest)
    assert invoke("weights", "import", str(honest), "--model", "resnet18").stderr == ""


# 4. Benchmarks without ../shared: images made from tests/data, and said so.
def test_benchmarks_fall_back_to_images_they_make(tmp_path, monkeypatch, capsys):
    import devdata

    monkeypatch.setattr(devdata, "SAMPLE", tmp_path / "no-shared")
    folder = devdata.image_folder(None, 6)
    assert "no-shared not found: measuring on 6 images made from" in capsys.readouterr().err
    made = sorted(folder.iterdir())
    assert len(made) == 6 and len({p.read_bytes() for p in made}) == 6
    assert all(Image.open(p).format == "JPEG" and min(Image.open(p).size) >= 256 for p in made)
    assert devdata.image_folder(tmp_path, 6) == tmp_path  # --images wins


# 10. The bomb message is one sentence, from the header budget and from Pillow alike.
def test_bomb_reason_has_no_dangling_comma(tmp_path, cache):
    import struct
    import zlib

    from resnet_cli.failures import reason

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))

    bomb = tmp_path / "bomb.png"  # a header claiming 20000x20000 pixels, no pixel data
    bomb.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(
        ">IIBBBBB", 20000, 20000, 8, 2, 0, 0, 0)) + chunk(b"IEND", b""))
    expected = (f"refused: image size (400000000 pixels) exceeds limit of "
                f"{Image.MAX_IMAGE_PIXELS} pixels")
    records = jsonl(invoke("predict", *SQUEEZE, "-f", "jsonl", str(bomb)).stdout)
    assert records == [{"path": str(bomb), "error": expected}]
    with pytest.raises(Image.DecompressionBombError) as raised:
        Image.open(bomb)
    assert reason(raised.value) == expected


# 10. The JSON example in README's Output section is what predict prints.
def test_readme_json_example_is_the_real_output(tmp_path, monkeypatch, cache):
    import re
    import shutil

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    output = readme.split("\n### Output\n", 1)[1].split("\n### ", 1)[0]
    command = re.search(r"```bash\nresnet (predict .*)\n```", output).group(1).split()
    shown = jsonl(re.search(r"```json\n(.*?)```", output, re.S).group(1))
    shutil.copytree(Path(__file__).parent / "data", tmp_path / "tests" / "data")
    (tmp_path / "broken.jpg").write_bytes(b"not an image at all")
    monkeypatch.chdir(tmp_path)
    result = invoke(*command)
    assert result.exit_code == 1  # one input failed
    real = jsonl(result.stdout)
    # Every field exactly; the probability to 1e-6 (its last digits differ across CPUs).
    assert real[0]["predictions"][0]["probability"] == pytest.approx(
        shown[0]["predictions"][0]["probability"], abs=1e-6)
    real[0]["predictions"][0]["probability"] = shown[0]["predictions"][0]["probability"]
    assert real == shown


# 10. --depth means one thing: build's ResNet depth; summary limits rows with --max-depth.
def test_depth_is_only_builds_architecture_option():
    summary_help = invoke("summary", "--help").output
    assert "--max-depth" in summary_help and "--depth" not in summary_help.replace(
        "--max-depth", "")
    build_help = invoke("build", "--help").output
    assert "resnet18_v1 / resnet34_v1" in " ".join(build_help.split("--depth", 1)[1].split())


# 10. Benchmark --help says what the script measures, not which issue asked for it.
@pytest.mark.parametrize("script", sorted(
    p.name for p in (Path(__file__).resolve().parents[1] / "benchmarks").glob("*.py")
    if "argparse" in p.read_text()))
def test_benchmark_help_describes_the_measurement(script):
    path = Path(__file__).resolve().parents[1] / "benchmarks" / script
    result = subprocess.run([sys.executable, str(path), "--help"], capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    description = result.stdout.split("\n\n")[1].strip()
    assert description and "issue" not in result.stdout.lower(), result.stdout
