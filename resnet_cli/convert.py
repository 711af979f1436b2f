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
       "running_var": "running_var", "num_batches_tracked": None}
_CONV = {"weight": "weight"}
_BLOCK = {"conv1": "body.0", "bn1": "body.1", "conv2": "body.3", "bn2": "body.4",
          "downsample.0": "downsample.0", "downsample.1": "downsample.1"}
_LAYER = re.compile(r"layer([1-4])\.(\d+)\.(conv1|bn1|conv2|bn2|downsample\.[01])\.(\w+)$")
_STEM = {"conv1": ("features.0", _CONV), "bn1": ("features.1", _BN),
         "fc": ("output", {"weight": "weight", "bias": "bias"})}


def gluon_name(torch_name: str) -> str | None:
    """The Gluon structural name for a torchvision name; None for bookkeeping entries.

    Every name must be one torchvision's BasicBlock ResNet has: an unknown layer or an
    unknown suffix (``bn1.foo``) is an error, not silently dropped or mis-mapped.
    """
    layer, _, kind = torch_name.rpartition(".")
    if (stem := _STEM.get(layer)) is not None:
        prefix, suffixes = stem
    elif match := _LAYER.match(torch_name):
        stage, block, part, kind = match.groups()
        prefix = f"features.{3 + int(stage)}.{block}.{_BLOCK[part]}"
        suffixes = _BN if part.startswith("bn") or part == "downsample.1" else _CONV
    else:
        raise ResnetError(f"unexpected tensor {torch_name!r}: not a torchvision-style ResNet")
    if kind not in suffixes:
        raise ResnetError(f"unexpected tensor {torch_name!r}: {layer} has no {kind!r}")
    return None if suffixes[kind] is None else f"{prefix}.{suffixes[kind]}"


def torchvision_to_gluon(state: StateDict) -> dict[str, np.ndarray]:
    """Rename every tensor; float tensors are stored as float32."""
    params: dict[str, np.ndarray] = {}
    for name, value in state.items():
        target = gluon_name(name.removeprefix("module."))
        if target in params:
            raise ResnetError(f"tensor {name!r} duplicates another name for {target}")
        if target is not None:
            params[target] = np.ascontiguousarray(value, dtype=np.float32)
    return params
