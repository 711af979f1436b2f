"""ResNet-18/34 built from BasicBlocks, with Gluon model-zoo ``resnet*_v1`` parameter layout.

The layout (``features`` / ``output`` children, ``body`` / ``downsample`` inside a block,
child order) is exactly that of ``mxnet.gluon.model_zoo.vision.ResNetV1``, so a zoo
``.params`` file loads with ``load_parameters`` unchanged.  Compared with the tutorial this
came from, the projection shortcut is a 1x1 conv with padding 0 (padding 1 makes the
residual 2 pixels larger than the body output and the addition fails).
"""

from __future__ import annotations

from typing import Any

from resnet_cli.runtime import mxnet

mx = mxnet()
nn = mx.gluon.nn

# (blocks per stage) for each supported depth; every stage uses BasicBlocks.
STAGE_BLOCKS: dict[int, tuple[int, int, int, int]] = {18: (2, 2, 2, 2), 34: (3, 4, 6, 3)}
STAGE_CHANNELS = (64, 128, 256, 512)
STEM_CHANNELS = 64


def conv3x3(channels: int, stride: int, in_channels: int) -> Any:
    """3x3 convolution, padding 1, no bias (a BatchNorm follows)."""
    return nn.Conv2D(channels, kernel_size=3, strides=stride, padding=1,
                     use_bias=False, in_channels=in_channels)


class BasicBlock(mx.gluon.HybridBlock):
    """conv-BN-ReLU-conv-BN, plus the (optionally projected) input, then ReLU."""

    def __init__(self, channels: int, stride: int, in_channels: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.body = nn.HybridSequential(prefix="")
        self.body.add(conv3x3(channels, stride, in_channels))
        self.body.add(nn.BatchNorm())
        self.body.add(nn.Activation("relu"))
        self.body.add(conv3x3(channels, 1, channels))
        self.body.add(nn.BatchNorm())
        if stride != 1 or in_channels != channels:
            # Projection shortcut: strided 1x1 conv, *no* padding, so shapes match the body.
            self.downsample = nn.HybridSequential(prefix="")
            self.downsample.add(nn.Conv2D(channels, kernel_size=1, strides=stride, padding=0,
                                          use_bias=False, in_channels=in_channels))
            self.downsample.add(nn.BatchNorm())
        else:
            self.downsample = None

    def hybrid_forward(self, F: Any, x: Any) -> Any:
        residual = self.downsample(x) if self.downsample is not None else x
        return F.Activation(self.body(x) + residual, act_type="relu")


def make_stage(index: int, blocks: int, channels: int, stride: int, in_channels: int) -> Any:
    """One stage: the first block may stride and widen, the rest keep the shape."""
    stage = nn.HybridSequential(prefix=f"stage{index}_")
    with stage.name_scope():
        stage.add(BasicBlock(channels, stride, in_channels, prefix=""))
        for _ in range(blocks - 1):
            stage.add(BasicBlock(channels, 1, channels, prefix=""))
    return stage


class ResNet(mx.gluon.HybridBlock):
    """ResNet v1 for BasicBlock depths: 7x7 stem, four stages, global pool, dense classifier."""

    def __init__(self, depth: int, classes: int = 1000, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if depth not in STAGE_BLOCKS:
            raise ValueError(f"unsupported depth {depth}; choose from {sorted(STAGE_BLOCKS)}")
        self.depth = depth
        with self.name_scope():
            self.features = nn.HybridSequential(prefix="")
            self.features.add(nn.Conv2D(STEM_CHANNELS, 7, 2, 3, use_bias=False))
            self.features.add(nn.BatchNorm())
            self.features.add(nn.Activation("relu"))
            self.features.add(nn.MaxPool2D(3, 2, 1))
            in_channels = STEM_CHANNELS
            stages = zip(STAGE_BLOCKS[depth], STAGE_CHANNELS, strict=True)
            for i, (blocks, channels) in enumerate(stages):
                stride = 1 if i == 0 else 2
                self.features.add(make_stage(i + 1, blocks, channels, stride, in_channels))
                in_channels = channels
            self.features.add(nn.GlobalAvgPool2D())
            self.output = nn.Dense(classes, in_units=in_channels)

    def hybrid_forward(self, F: Any, x: Any) -> Any:
        return self.output(self.features(x))


def resnet18(classes: int = 1000, **kwargs: Any) -> ResNet:
    return ResNet(18, classes, **kwargs)


def resnet34(classes: int = 1000, **kwargs: Any) -> ResNet:
    return ResNet(34, classes, **kwargs)
