"""Every model the tool knows, one :class:`ModelSpec` each: the single place to add one.

A spec holds what the rest of the code needs to know about a model: how to build the
network, its input size and normalization, where its weights come from (with
checksums), the file bundled in the package if any, and measured figures.  Stdlib only:
listing models or parsing ``--help`` never imports MXNet.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Any

from resnet_cli.errors import ResnetError

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
GLUON_REPO = "https://apache-mxnet.s3-accelerate.dualstack.amazonaws.com/gluon/models/"
TORCHVISION_REPO = "https://download.pytorch.org/models/"
DEFAULT_MODEL = "resnet18_v1"
BUNDLED_MODEL = "squeezenet1.1"


@dataclass(frozen=True)
class WeightFile:
    """A downloadable file that yields a model's Gluon weights, and how to verify it."""

    kind: str  # "gluon-zoo" (a zip holding the .params) or "torchvision" (a .pth)
    filename: str
    algorithm: str  # "sha1" (of the .params in the zip) or "sha256-prefix" (of the file)
    checksum: str
    public_base: str


def gluon_zoo_file(model: str, sha1: str) -> WeightFile:
    """The model zoo's zip, named and verified by the SHA-1 mxnet publishes."""
    return WeightFile("gluon-zoo", f"{model}-{sha1[:8]}.zip", "sha1", sha1, GLUON_REPO)


def torchvision_file(filename: str) -> WeightFile:
    """A torchvision ``.pth``, verified by the SHA-256 prefix in its name."""
    prefix = filename.rsplit("-", 1)[1].split(".")[0]
    return WeightFile("torchvision", filename, "sha256-prefix", prefix, TORCHVISION_REPO)


@dataclass(frozen=True)
class ZooBuilder:
    """Builds a Gluon model-zoo network by name (picklable, unlike a lambda)."""

    name: str

    def __call__(self, classes: int = 1000) -> Any:
        from resnet_cli.runtime import mxnet

        return mxnet().gluon.model_zoo.vision.get_model(self.name, classes=classes)


@dataclass(frozen=True)
class OwnResNet:
    """Builds this project's ResNet (``resnet_cli.network``) of the given depth."""

    depth: int

    def __call__(self, classes: int = 1000) -> Any:
        from resnet_cli.network import ResNet

        return ResNet(self.depth, classes)


@dataclass(frozen=True)
class ModelSpec:
    """Everything the tool knows about one model."""

    name: str
    build: ZooBuilder | OwnResNet  # (classes=1000) -> an uninitialized HybridBlock
    aliases: tuple[str, ...] = ()
    resize: int = 256  # shorter side before the center crop
    crop: int = 224
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD
    sources: tuple[WeightFile, ...] = ()  # tried in order
    bundled: str | None = None  # a .params file in resnet_cli/bundled/
    parameters: int | None = None  # trainable parameters with 1000 classes (test_registry)
    # Measured on ../shared/data/imagenet-sample, only where real weights exist offline (the
    # bundled SqueezeNet 1.1); None for the rest, whose weights are downloaded by users.
    top1: float | None = None
    top5: float | None = None

    @property
    def input_size(self) -> tuple[int, int]:
        return self.resize, self.crop

    @property
    def converts_torchvision(self) -> bool:
        """torchvision/timm state dicts map onto this network (BasicBlock ResNets)."""
        return isinstance(self.build, OwnResNet)


def _zoo(name: str, sha1: str, **facts: Any) -> ModelSpec:
    return ModelSpec(name, ZooBuilder(name), sources=(gluon_zoo_file(name, sha1),), **facts)


def _own(depth: int, sha1: str, torchvision: str, parameters: int) -> ModelSpec:
    name = f"resnet{depth}_v1"
    return ModelSpec(name, OwnResNet(depth), aliases=(f"resnet{depth}",),
                     sources=(gluon_zoo_file(name, sha1), torchvision_file(torchvision)),
                     parameters=parameters)


_SPECS = (
    _own(18, "a0666292f0a30ff61f857b0b66efc0228eb6a54b", "resnet18-f37072fd.pth", 11_689_512),
    _own(34, "48216ba99a8b1005d75c0f3a0c422301a0473233", "resnet34-b627a593.pth", 21_797_672),
    _zoo("resnet50_v1", "0aee57f96768c0a2d5b23a6ec91eb08dfb0a45ce", parameters=25_575_912),
    _zoo("resnet101_v1", "d988c13d6159779e907140a638c56f229634cb02", parameters=44_589_800),
    _zoo("resnet152_v1", "671c637a14387ab9e2654eafd0d493d86b1c8579", parameters=60_252_648),
    _zoo("resnet18_v2", "a81db45fd7b7a2d12ab97cd88ef0a5ac48b8f657", parameters=11_687_854),
    _zoo("resnet34_v2", "9d6b80bbc35169de6b6edecffdd6047c56fdd322", parameters=21_796_014),
    _zoo("resnet50_v2", "ecdde35339c1aadbec4f547857078e734a76fb49", parameters=25_549_486),
    _zoo("resnet101_v2", "18e93e4f48947e002547f50eabbcc9c83e516aa6", parameters=44_541_614),
    _zoo("resnet152_v2", "f2695542de38cf7e71ed58f02893d82bb409415e", parameters=60_185_262),
    _zoo("vgg11", "dd221b160977f36a53f464cb54648d227c707a05", parameters=132_863_336),
    _zoo("vgg13", "6bc5de58a05a5e2e7f493e2d75a580d83efde38c", parameters=133_047_848),
    _zoo("vgg16", "e660d4569ccb679ec68f1fd3cce07a387252a90a", parameters=138_357_544),
    _zoo("vgg19", "ad2f660d101905472b83590b59708b71ea22b2e5", parameters=143_667_240),
    _zoo("vgg11_bn", "ee79a8098a91fbe05b7a973fed2017a6117723a8", parameters=132_868_840),
    _zoo("vgg13_bn", "7d97a06c3c7a1aecc88b6e7385c2b373a249e95e", parameters=133_053_736),
    _zoo("vgg16_bn", "7f01cf050d357127a73826045c245041b0df7363", parameters=138_365_992),
    _zoo("vgg19_bn", "f360b758e856f1074a85abd5fd873ed1d98297c3", parameters=143_678_248),
    _zoo("alexnet", "44335d1f0046b328243b32a26a4fbd62d9057b45", parameters=61_100_840),
    _zoo("densenet121", "f27dbf2dbd5ce9a80b102d89c7483342cd33cb31", parameters=7_978_856),
    _zoo("densenet161", "b6c8a95717e3e761bd88d145f4d0a214aaa515dc", parameters=28_681_000),
    _zoo("densenet169", "2603f878403c6aa5a71a124c4a3307143d6820e9", parameters=14_149_480),
    _zoo("densenet201", "1cdbc116bc3a1b65832b18cf53e1cb8e7da017eb", parameters=20_013_928),
    _zoo("squeezenet1.0", "264ba4970a0cc87a4f15c96e25246a1307caf523", parameters=1_248_424),
    # Caffe's ImageNet weights, converted by scripts/convert_squeezenet.py.
    _zoo("squeezenet1.1", "33ba0f93753c83d86e1eb397f38a667eaf2e9376", aliases=("squeezenet",),
         bundled="squeezenet1.1.params", parameters=1_235_496, top1=0.613, top5=0.833),
    _zoo("inceptionv3", "ed47ec45a937b656fcc94dabde85495bbef5ba1f", resize=342, crop=299,
         parameters=23_834_568),
    _zoo("mobilenet1.0", "6b8c5106c730e8750bcd82ceb75220a3351157cd", parameters=4_231_976),
    _zoo("mobilenet0.75", "529b2c7f4934e6cb851155b22c96c9ab0a7c4dc2", parameters=2_585_560),
    _zoo("mobilenet0.5", "8e9d539cc66aa5efa71c4b6af983b936ab8701c3", parameters=1_331_592),
    _zoo("mobilenet0.25", "9f83e440996887baf91a6aff1cccc1c903a64274", parameters=470_072),
    _zoo("mobilenetv2_1.0", "36da4ff1867abccd32b29592d79fc753bca5a215", parameters=3_504_960),
    _zoo("mobilenetv2_0.75", "e2be7b72a79fe4a750d1dd415afedf01c3ea818d", parameters=2_627_592),
    _zoo("mobilenetv2_0.5", "aabd26cd335379fcb72ae6c8fac45a70eab11785", parameters=1_964_736),
    _zoo("mobilenetv2_0.25", "ae8f9392789b04822cbb1d98c27283fc5f8aa0a7", parameters=1_516_392),
)
MODELS: dict[str, ModelSpec] = {spec.name: spec for spec in _SPECS}
ALIASES = {alias: spec.name for spec in _SPECS for alias in spec.aliases}


def canonical_name(name: str) -> str:
    """Resolve aliases (``resnet18`` -> ``resnet18_v1``); other names pass unchanged."""
    return ALIASES.get(name, name)


def get(name: str) -> ModelSpec:
    """The spec of ``name`` (or an alias); ResnetError naming the known models if none."""
    spec = MODELS.get(canonical_name(name))
    if spec is None:
        raise ResnetError(f"unknown model {canonical_name(name)!r}; "
                          f"{did_you_mean(name, [*MODELS, *ALIASES])}known: {', '.join(MODELS)}")
    return spec


def did_you_mean(name: str, known: list[str]) -> str:
    """``"did you mean X? "`` for the closest known name (difflib's ratio, at least 0.6,
    ties to the earlier name: resnet50 -> resnet50_v1), or nothing."""
    score, _, best = max((difflib.SequenceMatcher(None, name.lower(), k).ratio(), -i, k)
                         for i, k in enumerate(known))
    return f"did you mean {best}? " if score >= 0.6 else ""


def names() -> list[str]:
    """Every registered model name, sorted."""
    return sorted(MODELS)
