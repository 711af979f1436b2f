"""``resnet summary`` against the real forward pass; ``resnet build`` directories round-trip."""

from __future__ import annotations

import json
import mmap
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from helpers import invoke

from resnet_cli import bench
from resnet_cli.runtime import mxnet

mx = mxnet()


def summary_json(*args: str) -> dict:
    result = invoke("summary", "-f", "json", *args)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_resnet18_totals(cache):
    totals = summary_json("--model", "resnet18_v1")["totals"]
    assert totals["trainable"] == 11_689_512
    assert totals["parameters"] == 11_699_112
    assert abs(totals["macs"] / 1e9 - 1.82) < 0.01
    assert totals["size_mb"] == pytest.approx(11_699_112 * 4 / 1e6, abs=1e-3)
    assert not cache.exists()  # nothing fetched, nothing cached


def test_shapes_match_the_real_forward_pass():
    from resnet_cli.network import resnet18

    report = summary_json("--model", "resnet18", "--input-size", "160", "--classes", "10")
    layers = {row["path"]: row for row in report["layers"]}
    net = resnet18(classes=10)
    net.initialize()
    x = mx.nd.zeros((1, 3, 160, 160))
    for i, block in enumerate(net.features):
        x = block(x)
        assert tuple(layers[f"features.{i}"]["output_shape"]) == x.shape
    assert tuple(layers["output"]["output_shape"]) == net(mx.nd.zeros((1, 3, 160, 160))).shape
    assert layers["output"]["params"] == 512 * 10 + 10


def test_max_depth_limits_rows_not_totals():
    full = summary_json("--model", "resnet34")
    shallow = summary_json("--model", "resnet34", "--max-depth", "1")
    assert {row["depth"] for row in shallow["layers"]} == {0, 1}
    assert shallow["totals"] == full["totals"]
    assert len(full["layers"]) > 100


def test_table_shows_layers_and_totals():
    result = invoke("summary", "--model", "squeezenet1.1", "--max-depth", "2")
    assert result.exit_code == 0
    assert "Conv2D 3->64 3x3/2" in result.stdout and "64x111x111" in result.stdout
    assert "total parameters" in result.stdout and "1,235,496" in result.stdout


# What the photos show, as ImageNet classes: int8 is judged on them (SqueezeNet fp32 gets
# only the espresso right, with 0.97; the others are misses for fp32 too).
SHOWN = {"coffee": "espresso", "chelsea": "tabby", "grace_hopper": "military uniform",
         "rocket": "missile"}


@pytest.fixture(scope="module")
def calibration_dir(tmp_path_factory, photos) -> Path:
    """The photos in folders named by their class: labelled calibration images."""
    folder = tmp_path_factory.mktemp("calib")
    for name, path in photos.items():
        (folder / SHOWN[name]).mkdir()
        shutil.copy(path, folder / SHOWN[name] / f"{name}{path.suffix}")
    return folder


def predict_json(*args: str) -> list[dict]:
    result = invoke("predict", "-f", "json", *args)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_built_directory_matches_in_process_model(tmp_path, photos, cache):
    out = tmp_path / "sq"
    result = invoke("build", "--model", "squeezenet1.1", "--pretrained", "--out", str(out))
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == [
        "SHA256SUMS", "labels.tsv", "metadata.json", "model-0000.params", "model-symbol.json"]
    meta = json.loads((out / "metadata.json").read_text())
    assert meta["architecture"] == "squeezenet1.1" and meta["classes"] == 1000
    assert meta["preprocessing"]["crop"] == 224 and meta["versions"]["mxnet"] == "1.9.1"
    images = [str(photos[n]) for n in ("chelsea", "coffee", "rocket")]
    built = predict_json("--model-dir", str(out), *images)
    direct = predict_json("--model", "squeezenet1.1", *images)
    for a, b in zip(built, direct, strict=True):
        assert [p["index"] for p in a["predictions"]] == [p["index"] for p in b["predictions"]]
        for p, q in zip(a["predictions"], b["predictions"], strict=True):
            assert abs(p["probability"] - q["probability"]) <= 1e-5
    summary = summary_json("--model-dir", str(out))
    assert summary["model"] == "squeezenet1.1"


def test_resnet_build_with_new_classifier_keeps_the_rest(tmp_path, photos, resnet18_params):
    out = tmp_path / "r18-10"
    result = invoke("build", "--depth", "18", "--classes", "10", "--weights",
                    str(resnet18_params), "--out", str(out))
    assert result.exit_code == 0, result.output
    assert "freshly initialised (not in the weights): output.weight, output.bias" in result.stderr
    net = mx.gluon.SymbolBlock.imports(str(out / "model-symbol.json"), ["data"],
                                       str(out / "model-0000.params"))
    exported = dict(net.collect_params().items())
    conv0 = next(v for k, v in exported.items() if k.endswith("conv0_weight"))
    expected = mx.nd.load(str(resnet18_params))["features.0.weight"].asnumpy()
    np.testing.assert_array_equal(conv0.data().asnumpy(), expected)
    records = predict_json("--model-dir", str(out), "-k", "3", str(photos["coffee"]))
    assert records[0]["predictions"][0]["label"].startswith("class_")


@pytest.mark.parametrize("damage", ["missing", "edited", "sums"])
def test_damaged_directory_is_one_clear_error(tmp_path, photos, damage, cache):
    out = tmp_path / "sq"
    assert invoke("build", "--model", "squeezenet1.1", "--pretrained", "--out",
                  str(out)).exit_code == 0
    if damage == "missing":
        (out / "model-0000.params").unlink()
        expected = "model-0000.params is missing"
    elif damage == "edited":
        with (out / "model-symbol.json").open("a") as f:
            f.write(" ")
        expected = "model-symbol.json does not match its SHA-256"
    else:
        (out / "SHA256SUMS").unlink()
        expected = "SHA256SUMS is missing"
    result = invoke("predict", "--model-dir", str(out), str(photos["coffee"]))
    assert result.exit_code == 2
    (line,) = result.stderr.strip().splitlines()
    assert expected in line


def test_build_usage_errors(tmp_path):
    result = invoke("build", "--depth", "18", "--model", "squeezenet1.1", "--out", str(tmp_path))
    assert result.exit_code == 2 and "exactly one of --depth and --model" in result.output
    result = invoke("build", "--depth", "18", "--int8", "--out", str(tmp_path))
    assert result.exit_code == 2 and "--int8 needs --calibrate" in result.output


def build_int8_squeezenet(images: Path, out: Path):
    result = invoke("build", "--model", "squeezenet1.1", "--pretrained", "--int8",
                    "--calibrate", str(images), "--out", str(out))
    assert result.exit_code == 0, result.output
    return result


def test_int8_build_runs_and_reports_agreement(tmp_path, calibration_dir, photos, cache):
    out = tmp_path / "sq-int8"
    result = build_int8_squeezenet(calibration_dir, out)
    assert "int8 top-1 agreement with fp32 on 4 calibration images: " in result.stdout
    meta = json.loads((out / "metadata.json").read_text())
    assert meta["int8"] and meta["name"] == "squeezenet1.1-int8"
    checked = meta["calibration"]
    assert (checked["images"], checked["checked_on"]) == (4, 4)
    assert checked["fp32_top1_accuracy"] == 0.25  # the espresso
    assert checked["top1_accuracy"] >= checked["fp32_top1_accuracy"] - 0.01  # shipped
    assert (f"top-1 {100 * checked['top1_accuracy']:.1f}% (fp32 25.0%)"
            in result.stdout)
    nodes = json.loads((out / "model-symbol.json").read_text())["nodes"]
    ops = [node["op"] for node in nodes if node["op"] != "null"]
    head = ops[max(i for i, op in enumerate(ops) if op == "Pooling"):]
    assert any("quantized" in op for op in ops)
    # Class scores stay fp32: nothing after the final pool is quantized again.
    assert head == ["Pooling", "Flatten"]
    records = predict_json("--model-dir", str(out), str(photos["coffee"]))
    assert records[0]["model"] == "squeezenet1.1-int8"
    # 4 calibration images make coarse thresholds: the right class stays in the top 5.
    assert "espresso" in [p["label"] for p in records[0]["predictions"]]


def test_int8_that_cannot_be_checked_is_refused_and_nothing_written(tmp_path, photos,
                                                                    cache):
    """As for the ONNX engines' int8: unlabelled images cannot show accuracy is kept."""
    unlabelled = tmp_path / "photos"
    unlabelled.mkdir()
    shutil.copy(photos["coffee"], unlabelled / "coffee.png")
    out = tmp_path / "sq-int8"
    result = invoke("build", "--model", "squeezenet1.1", "--pretrained", "--int8",
                    "--calibrate", str(unlabelled), "--out", str(out))
    assert result.exit_code == 2
    assert "MXNet's int8 model is refused, nothing was written: no image it was checked on " \
           "is labelled" in result.stderr
    assert not out.exists()


def test_bench_reports_medians(photos, tmp_path, cache):
    folder = tmp_path / "imgs"
    folder.mkdir()
    for name, path in photos.items():
        shutil.copy(path, folder / f"{name}{path.suffix}")
    result = invoke("bench", "--model", "squeezenet1.1", "-b", "4", "--repeats", "2",
                    "--images", str(folder))
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].startswith("squeezenet1.1, batch 4, OMP threads")
    model_only = float(lines[1].split()[1])
    end_to_end = float(lines[2].split()[1])
    assert model_only > 0 and end_to_end > 0
    assert lines[3].startswith("ratio end-to-end / model-only:")
    assert lines[4].startswith("on 2 MB pages: ")


THP = Path("/sys/kernel/mm/transparent_hugepage/enabled")


@pytest.mark.skipif(not (THP.exists() and re.search(r"\[(always|madvise)\]", THP.read_text())),
                    reason="no transparent huge pages here")
def test_bench_counts_the_memory_on_2mb_pages():
    # A fresh mapping that asks for 2 MB pages (an array could reuse memory already counted)
    with mmap.mmap(-1, 16 << 20, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS) as block:
        block.madvise(mmap.MADV_HUGEPAGE)
        before = bench.on_huge_pages()
        block.write(b"x" * len(block))
        assert bench.on_huge_pages() - before >= 2 << 20  # at least one of its 2 MB blocks


@pytest.mark.slow
def test_int8_squeezenet_on_imagenet_sample(sample_dir, sample_eval, tmp_path, cache):
    """Calibrated on the 1000 sample images: accuracy within 1.5 points of fp32.

    Top-1 agreement with fp32 measured 96.2% (94.9-96.5% across calibration batch sizes;
    the issue asks 98%: MXNet's post-training quantization of SqueezeNet does not get there).
    """
    out = tmp_path / "sq-int8"
    build_int8_squeezenet(sample_dir, out)
    agreement = json.loads((out / "metadata.json").read_text())["calibration"]["top1_agreement"]
    assert agreement >= 0.93
    int8 = invoke("eval", "--model-dir", str(out), "-f", "json", str(sample_dir))
    assert int8.exit_code == 0, int8.stderr
    drop = sample_eval["top1"] - json.loads(int8.stdout)["top1"]
    assert drop <= 0.015
