"""Every name ``--model`` accepts summarizes, predicts and builds, with random weights
(nothing is downloaded).

Each model goes in-process through the functions the commands call: ``summarize_model``
for ``resnet summary``; ``Classifier.load(model, weights_file)`` and ``classify`` for
``resnet predict -m NAME --weights FILE``; ``build_dir`` for ``resnet build -m NAME
--weights FILE`` and ``resnet_cli.load(model_dir=...)`` for ``predict --model-dir``. One
MXNet start for all 34 instead of one per command and model; the CLI wiring around them
runs once per command on a small model.

Cost is memory traffic, not arithmetic: VGG's 133-144 M parameters (530-575 MB) are slow
to touch for the first time on a VM. So each model's parameters exist as few times as the
commands need: the random file is written from MXNet arrays made at their final shapes
(no network initialized, no numpy copy), summaries run at the smallest input each
architecture takes, and at most one classifier is alive at a time. Measured (2-core
Sapphire Rapids VM): each VGG ~7-12 s, DenseNets ~5-13 s, the rest under 7 s.
"""

from __future__ import annotations

import gc
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

import resnet_cli
from resnet_cli.build import build_dir
from resnet_cli.classifier import Classifier
from resnet_cli.cli import cli
from resnet_cli.records import Prediction
from resnet_cli.registry import get, names
from resnet_cli.runtime import mxnet
from resnet_cli.summary import summarize_model

CLASSES = 10
# The smallest square input each architecture's summary accepts (a fixed final pooling
# window, or inception's stem); the rest take 32, which keeps the forward pass cheap.
SMALLEST_INPUT = {"alexnet": 64, "inceptionv3": 299, "squeezenet1.0": 224,
                  "squeezenet1.1": 224, "densenet121": 224, "densenet161": 224,
                  "densenet169": 224, "densenet201": 224}
TOP = 5


def random_weights(model: str, path: Path) -> Path:
    """A seeded random ``.params`` file for ``model`` (1000 classes), in the layout
    ``save_parameters`` writes. Shapes come from symbolic inference, so no parameter is
    allocated twice; weights are uniform with variance 2/fan_in (He), which keeps
    activations at scale through ReLU nets without BatchNorm (VGG), so the top classes
    are decided by real margins; BatchNorm is the identity."""
    mx = mxnet()
    spec = get(model)
    net = spec.build(classes=1000)
    graph = net(mx.sym.var("data"))
    args, _, aux = graph.infer_shape(data=(1, 3, spec.crop, spec.crop))
    shapes = dict(zip(graph.list_arguments(), args, strict=True))
    shapes.update(zip(graph.list_auxiliary_states(), aux, strict=True))
    mx.random.seed(0)
    arrays = {}
    for name, param in net._collect_params_with_prefix().items():
        shape = shapes[param.name]
        if name.endswith(("gamma", "running_var")):
            arrays[name] = mx.nd.ones(shape)
        elif name.endswith("weight"):
            limit = float(np.sqrt(6.0 / np.prod(shape[1:])))
            arrays[name] = mx.nd.random.uniform(-limit, limit, shape)
        else:  # biases, beta, running_mean
            arrays[name] = mx.nd.zeros(shape)
    mx.nd.save(str(path), arrays)
    return path


def top(classifier: Classifier, image: Path) -> list[Prediction]:
    """The top classes of one image, as ``resnet predict`` computes them."""
    (record,) = resnet_cli.classify([image], classifier=classifier, k=TOP, batch_size=1,
                                    workers=1)
    assert record.error is None, record.error
    return record.predictions


@pytest.mark.slow
@pytest.mark.parametrize("model", names())
def test_every_model_summarizes(model):
    summary = summarize_model(model, CLASSES, SMALLEST_INPUT.get(model, 32))
    # MXNet runs the forward passes asynchronously: finish them here, so that their time
    # and any failure count against this model, not the next test that waits.
    mxnet().nd.waitall()
    assert summary.layers[0].output_shape == (1, CLASSES) and summary.macs > 0
    assert summary.parameters == sum(r.params for r in summary.layers if r.depth == 1)


@pytest.fixture
def scratch(tmp_path: Path):
    """``tmp_path``, emptied when the test ends: the 34 models' weights and model dirs come
    to about 14 GB, which pytest would otherwise keep on disk for its last three runs."""
    yield tmp_path
    shutil.rmtree(tmp_path, ignore_errors=True)


@pytest.mark.slow
@pytest.mark.parametrize("model", names())  # alphabetical: the eight VGGs, heaviest, last
def test_every_model_predicts_and_builds(model, scratch, photos, cache):
    weights = random_weights(model, scratch / "random.params")
    image = photos["grace_hopper"]
    by_name = Classifier.load(model, weights)  # predict -m MODEL --weights FILE
    named = top(by_name, image)
    input_size = by_name.input_size
    del by_name  # one copy of the parameters at a time (VGG: 575 MB)
    gc.collect()
    assert [p.rank for p in named] == list(range(1, TOP + 1))
    probabilities = [p.probability for p in named]
    assert probabilities == sorted(probabilities, reverse=True)
    assert 0 < sum(probabilities) <= 1 + 1e-6

    built = build_dir(model, 1000, weights, scratch / "dir", None, 0, pytest.fail)
    from_dir = resnet_cli.load(model_dir=built.path)  # predict --model-dir DIR
    assert from_dir.input_size == input_size
    exported = top(from_dir, image)
    assert [p.index for p in exported] == [p.index for p in named]
    for mine, theirs in zip(exported, named, strict=True):
        assert mine.probability == pytest.approx(theirs.probability, rel=1e-4, abs=1e-7)


def invoke(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


@pytest.mark.slow
def test_every_command_through_the_cli(tmp_path, photos, cache):
    """The Click wiring around the functions above, once per command (mobilenet0.25)."""
    model = "mobilenet0.25"
    result = invoke("summary", "-m", model, "--classes", "10", "--input-size", "32",
                    "-f", "json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["layers"][0]["output_shape"] == [1, 10]
    weights = random_weights(model, tmp_path / "random.params")
    result = invoke("predict", "-m", model, "--weights", str(weights), "-k", "2", "-f", "json",
                    str(photos["coffee"]))
    assert result.exit_code == 0, result.output
    assert [p["rank"] for p in json.loads(result.stdout)[0]["predictions"]] == [1, 2]
    out = tmp_path / "built"
    result = invoke("build", "-m", model, "--random-init", "--classes", "10", "--out", str(out))
    assert result.exit_code == 0, result.output
    result = invoke("predict", "--model-dir", str(out), "-k", "3", "-f", "json",
                    str(photos["coffee"]))
    assert result.exit_code == 0, result.output
    predictions = json.loads(result.stdout)[0]["predictions"]
    assert all(p["label"].startswith("class_") for p in predictions)
