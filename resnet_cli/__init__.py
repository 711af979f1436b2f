"""resnet: classify images with ImageNet models on MXNet Gluon.

The public API (:func:`load`, :func:`classify`, :class:`Record`, :class:`Prediction`,
:class:`ModelSpec`, :data:`MODELS`) is imported on first use, so ``import resnet_cli`` and
``resnet --help`` stay fast; MXNet itself is imported only when a network is built.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_EXPORTS = {
    "load": "resnet_cli.api", "classify": "resnet_cli.api",
    "Classifier": "resnet_cli.classifier",
    "Record": "resnet_cli.records", "Prediction": "resnet_cli.records",
    "Source": "resnet_cli.records",
    "ModelSpec": "resnet_cli.registry", "MODELS": "resnet_cli.registry",
    "ResnetError": "resnet_cli.errors", "ExitCode": "resnet_cli.errors",
}
__all__ = ["MODELS", "Classifier", "ExitCode", "ModelSpec", "Prediction", "Record",
           "ResnetError", "Source", "__version__", "classify", "load"]

if TYPE_CHECKING:
    from resnet_cli.api import classify, load
    from resnet_cli.classifier import Classifier
    from resnet_cli.errors import ExitCode, ResnetError
    from resnet_cli.records import Prediction, Record, Source
    from resnet_cli.registry import MODELS, ModelSpec


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'resnet_cli' has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)
