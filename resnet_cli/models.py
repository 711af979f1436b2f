"""Model names the CLI accepts and how to build each network (without weights)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from resnet_cli.errors import ResnetError
from resnet_cli.runtime import mxnet

# Our own ResNets (resnet_cli.network); every other name comes from the Gluon model zoo.
OWN_RESNETS = {"resnet18_v1": 18, "resnet34_v1": 34}
ALIASES = {"resnet18": "resnet18_v1", "resnet34": "resnet34_v1", "squeezenet": "squeezenet1.1"}
DEFAULT_MODEL = "resnet18_v1"
BUNDLED_MODEL = "squeezenet1.1"
# Names mxnet 1.9.1's ``model_zoo.vision.get_model`` accepts (kept here so listing them
# does not import MXNet).
ZOO_MODELS = (
    "resnet18_v1", "resnet34_v1", "resnet50_v1", "resnet101_v1", "resnet152_v1",
    "resnet18_v2", "resnet34_v2", "resnet50_v2", "resnet101_v2", "resnet152_v2",
    "vgg11", "vgg13", "vgg16", "vgg19", "vgg11_bn", "vgg13_bn", "vgg16_bn", "vgg19_bn",
    "alexnet", "densenet121", "densenet161", "densenet169", "densenet201",
    "squeezenet1.0", "squeezenet1.1", "inceptionv3",
    "mobilenet1.0", "mobilenet0.75", "mobilenet0.5", "mobilenet0.25",
    "mobilenetv2_1.0", "mobilenetv2_0.75", "mobilenetv2_0.5", "mobilenetv2_0.25",
)
# Models trained at another resolution: (resize shorter side, center crop).
INPUT_SIZES = {"inceptionv3": (342, 299)}


def input_size(name: str) -> tuple[int, int]:
    return INPUT_SIZES.get(canonical_name(name), (256, 224))


def canonical_name(name: str) -> str:
    """Resolve aliases (``resnet18`` -> ``resnet18_v1``)."""
    return ALIASES.get(name, name)


def builder(name: str) -> Callable[..., Any]:
    """A callable ``(classes=...) -> HybridBlock`` for ``name``; ResnetError if unknown."""
    name = canonical_name(name)
    if name in OWN_RESNETS:
        from resnet_cli.network import ResNet

        depth = OWN_RESNETS[name]
        return lambda classes=1000: ResNet(depth, classes)
    if name not in ZOO_MODELS:
        raise ResnetError(f"unknown model {name!r}; known: {', '.join(ZOO_MODELS)}")
    vision = mxnet().gluon.model_zoo.vision
    return lambda classes=1000: vision.get_model(name, classes=classes)
