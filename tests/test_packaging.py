"""The wheel ships what the tool reads at run time, found the same way as in the checkout."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from importlib import resources
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FIND_LABELS = ("import resnet_cli, sys; from resnet_cli.classes import imagenet_classes; "
               "from resnet_cli.weights.catalog import bundled_path; "
               "print(resnet_cli.__file__, len(imagenet_classes()), "
               "bundled_path('squeezenet1.1').is_file())")


def test_checkout_finds_labels_in_the_top_level_folder():
    found = resources.files("resnet_cli.labels").joinpath("imagenet1k.tsv")
    assert Path(str(found)).resolve() == ROOT / "labels" / "imagenet1k.tsv"


def test_installed_wheel_finds_labels_and_bundled_weights(tmp_path):
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    subprocess.run([*pip, "wheel", "--no-deps", "--no-build-isolation", "-w", str(tmp_path),
                    str(ROOT)], check=True, capture_output=True)
    (wheel,) = tmp_path.glob("resnet_cli-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "resnet_cli/labels/imagenet1k.tsv" in names
    assert "resnet_cli/bundled/squeezenet1.1.params" in names
    site = tmp_path / "site"
    subprocess.run([*pip, "install", "--no-deps", "--target", str(site), str(wheel)],
                   check=True, capture_output=True)
    out = subprocess.run([sys.executable, "-c", FIND_LABELS], cwd=tmp_path, check=True,
                         capture_output=True, text=True, env={"PYTHONPATH": str(site)})
    module, count, bundled = out.stdout.split()
    assert Path(module).is_relative_to(site) and count == "1000" and bundled == "True"
