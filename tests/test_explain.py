"""``resnet explain`` end to end: the PNG, the JSON statistics, classes, model directories."""

from __future__ import annotations

import json

import pytest
from helpers import CAT_CLASSES, SQUEEZE, invoke
from PIL import Image

PANEL = 224 + 8  # crop plus margin


def test_json_names_top3_with_statistics_and_writes_the_png(photos, tmp_path, cache):
    out = tmp_path / "cat.png"
    result = invoke("explain", *SQUEEZE, str(photos["chelsea"]), "-o", str(out), "-f", "json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["output"] == str(out) and report["layer"].endswith("concat7")
    assert [c["rank"] for c in report["classes"]] == [1, 2, 3]
    assert report["classes"][0]["label"] in CAT_CLASSES
    for c in report["classes"]:
        assert 0 <= c["peak"]["x"] < 224 and 0 <= c["peak"]["y"] < 224
        assert 0 < c["centre_share"] <= 1
    with Image.open(out) as png:
        assert png.format == "PNG" and png.size == (8 + 4 * PANEL, 224 + 40 + 16)
        # the first panel is the model's view: the crop, unchanged
        assert png.getpixel((8 + 112, 8 + 112)) != png.getpixel((8 + PANEL + 112, 8 + 112))


def test_default_output_goes_to_the_current_folder_and_is_named(photos, tmp_path, cache,
                                                                monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = invoke("explain", *SQUEEZE, str(photos["coffee"]), "-k", "1")
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("coffee.gradcam.png: Grad-CAM of ")
    assert "espresso" in result.stdout
    with Image.open(tmp_path / "coffee.gradcam.png") as png:
        assert png.size[0] == 8 + 2 * PANEL


@pytest.mark.parametrize("name", ["espresso", "967", "n07920052", "ESPRESSO"])
def test_class_by_name_index_or_wnid(name, photos, tmp_path, cache):
    result = invoke("explain", *SQUEEZE, str(photos["chelsea"]), "--class", name, "--class",
                    "tabby", "-o", str(tmp_path / "x.png"), "-f", "json")
    assert result.exit_code == 0, result.output
    classes = json.loads(result.stdout)["classes"]
    assert [c["label"] for c in classes] == ["espresso", "tabby"]
    assert classes[0]["rank"] > 10  # a cat photo: espresso is explained, not predicted


def test_unknown_class_and_unreadable_image(photos, tmp_path, cache):
    result = invoke("explain", *SQUEEZE, str(photos["coffee"]), "--class", "unicorn")
    assert result.exit_code == 2 and "unknown class 'unicorn'" in result.stderr
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"nope")
    result = invoke("explain", *SQUEEZE, str(bad), "-o", str(tmp_path / "x.png"))
    assert result.exit_code == 1
    assert "not an image Pillow can read" in result.stderr
    assert not (tmp_path / "x.png").exists()


def test_model_dir_fp32_matches_the_named_model_and_int8_is_refused(photos, tmp_path, cache):
    fp32, int8 = tmp_path / "sq", tmp_path / "sq-int8"
    assert invoke("build", *SQUEEZE, "--pretrained", "--out", str(fp32)).exit_code == 0
    calibration = tmp_path / "calibration" / "espresso"  # labelled: int8 is judged on it
    calibration.mkdir(parents=True)
    (calibration / "coffee.png").write_bytes(photos["coffee"].read_bytes())
    assert invoke("build", *SQUEEZE, "--pretrained", "--int8", "--calibrate",
                  str(calibration), "--out", str(int8)).exit_code == 0
    args = [str(photos["coffee"]), "-o", str(tmp_path / "x.png"), "-f", "json"]
    from_dir = json.loads(invoke("explain", "--model-dir", str(fp32), *args).stdout)
    named = json.loads(invoke("explain", *SQUEEZE, *args).stdout)
    for a, b in zip(from_dir["classes"], named["classes"], strict=True):
        assert a["index"] == b["index"] and a["peak"] == b["peak"]
        assert a["probability"] == pytest.approx(b["probability"], rel=1e-5)
        assert a["centre_share"] == pytest.approx(b["centre_share"], abs=1e-4)
    result = invoke("explain", "--model-dir", str(int8), *args)
    assert result.exit_code == 2
    assert "int8" in result.stderr and "fp32 twin" in result.stderr


@pytest.mark.parametrize("name", ["resnet18_v1", "mobilenetv2_0.25"])
def test_any_model_with_its_weights_file(name, photos, tmp_path, cache):
    from resnet_cli import registry
    from resnet_cli.runtime import mxnet

    mx = mxnet()
    net = registry.get(name).build(classes=1000)
    net.initialize(mx.init.Xavier())
    net(mx.nd.zeros((1, 3, 224, 224)))
    net.save_parameters(str(tmp_path / "w.params"))
    result = invoke("explain", "-m", name, "--weights", str(tmp_path / "w.params"),
                    str(photos["rocket"]), "-k", "2", "-o", str(tmp_path / "x.png"), "-f", "json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["model"] == name and len(report["classes"]) == 2
