"""Map torchvision/timm ResNet state dicts onto Gluon ``resnet*_v1`` parameter names.

The architectures match layer for layer for BasicBlock ResNets (18, 34); only names
differ: ``layerI.J.conv1`` is ``features.{3+I}.J.body.0``, BatchNorm ``weight``/``bias`` are
``gamma``/``beta``, ``fc`` is ``output``.  (torchvision's ResNet-50+ stride the 3x3 conv,
Gluon v1 the first 1x1, so those are not converted.)
"""

from __future__ import annotations

import re

import numpy as np

from resnet_cli.errors import ResnetError
from resnet_cli.torch_formats import StateDict

_BN = {"weight": "gamma", "bias": "beta", "running_mean": "running_mean",
       "running_var": "running_var"}
_BLOCK = {"conv1": "body.0", "bn1": "body.1", "conv2": "body.3", "bn2": "body.4",
          "downsample.0": "downsample.0", "downsample.1": "downsample.1"}
_LAYER = re.compile(r"layer([1-4])\.(\d+)\.(conv1|bn1|conv2|bn2|downsample\.[01])\.(\w+)$")


def gluon_name(torch_name: str) -> str | None:
    """The Gluon structural name for a torchvision name; None for bookkeeping entries."""
    if torch_name.endswith("num_batches_tracked"):
        return None
    stem = {"conv1.weight": "features.0.weight", "fc.weight": "output.weight",
            "fc.bias": "output.bias"}.get(torch_name)
    if stem:
        return stem
    if torch_name.startswith("bn1."):
        return "features.1." + _BN[torch_name[4:]]
    match = _LAYER.match(torch_name)
    if not match:
        raise ResnetError(f"unexpected tensor {torch_name!r}: not a torchvision-style ResNet")
    stage, block, layer, kind = match.groups()
    target = _BLOCK[layer]
    suffix = _BN[kind] if layer.startswith("bn") or layer == "downsample.1" else kind
    return f"features.{3 + int(stage)}.{block}.{target}.{suffix}"


def torchvision_to_gluon(state: StateDict) -> dict[str, np.ndarray]:
    """Rename every tensor; float tensors are stored as float32."""
    params = {}
    for name, value in state.items():
        target = gluon_name(name.removeprefix("module."))
        if target is not None:
            params[target] = np.ascontiguousarray(value, dtype=np.float32)
    return params
