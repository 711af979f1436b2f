"""The project's ResNets have the Gluon zoo's parameter layout and compute the same thing."""

from __future__ import annotations

import numpy as np
import pytest

from resnet_cli.network import BasicBlock, ResNet, resnet18, resnet34
from resnet_cli.preprocess import Preprocessing
from resnet_cli.runtime import mxnet

mx = mxnet()
vision = mx.gluon.model_zoo.vision


@pytest.mark.parametrize(("ours", "zoo"), [(resnet18, vision.resnet18_v1),
                                           (resnet34, vision.resnet34_v1)])
def test_zoo_params_load_unchanged_and_give_same_logits(ours, zoo, photos, tmp_path):
    mx.random.seed(0)
    reference = zoo()
    reference.initialize(mx.init.Xavier())
    x = mx.nd.array(Preprocessing()(photos["chelsea"])[None])
    reference(x)
    # Non-trivial BatchNorm statistics, so a mis-mapped layer would show.
    for name, param in reference.collect_params().items():
        if name.endswith(("running_mean", "running_var", "gamma", "beta")):
            param.set_data(mx.nd.random.uniform(0.5, 1.5, shape=param.shape))
    path = tmp_path / "zoo.params"
    reference.save_parameters(str(path))

    net = ours()
    net.load_parameters(str(path))  # raises on any name or shape mismatch
    diff = np.abs(net(x).asnumpy() - reference(x).asnumpy()).max()
    assert diff <= 1e-5


def test_parameter_names_match_the_zoo_exactly(tmp_path):
    zoo = vision.resnet18_v1()
    zoo.initialize()
    zoo(mx.nd.zeros((1, 3, 224, 224)))
    zoo.save_parameters(str(tmp_path / "z.params"))
    ours = resnet18()
    ours.initialize()
    ours(mx.nd.zeros((1, 3, 224, 224)))
    ours.save_parameters(str(tmp_path / "o.params"))
    z = mx.nd.load(str(tmp_path / "z.params"))
    o = mx.nd.load(str(tmp_path / "o.params"))
    assert {k: v.shape for k, v in o.items()} == {k: v.shape for k, v in z.items()}


def test_projection_block_halves_the_grid_and_doubles_channels():
    block = BasicBlock(128, stride=2, in_channels=64)
    block.initialize()
    out = block(mx.nd.ones((2, 64, 56, 56)))
    assert out.shape == (2, 128, 28, 28)
    conv = block.downsample[0]
    assert conv._kwargs["pad"] == (0, 0)
    assert conv._kwargs["stride"] == (2, 2)


def test_identity_block_has_no_projection():
    assert BasicBlock(64, stride=1, in_channels=64).downsample is None


@pytest.mark.parametrize(("depth", "blocks"), [(18, 8), (34, 16)])
def test_depth_counts_blocks(depth, blocks):
    net = ResNet(depth, classes=10)
    stages = [net.features[i] for i in range(4, 8)]
    assert sum(len(stage) for stage in stages) == blocks
    net.initialize()
    assert net(mx.nd.zeros((1, 3, 224, 224))).shape == (1, 10)


def test_unsupported_depth_is_refused():
    with pytest.raises(ValueError, match="unsupported depth 50"):
        ResNet(50)
