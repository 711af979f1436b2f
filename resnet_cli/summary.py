"""Layer-by-layer summary: output shapes from a real forward pass, parameters and MACs.

Shapes come from forward hooks on an imperative (not hybridized) pass over a zero image,
so they are what the network really computes.  MACs count multiply-accumulates of
convolutions and dense layers (the conventional figure: ~1.82 G for ResNet-18 at 224).
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from resnet_cli import registry
from resnet_cli.runtime import mxnet


@dataclass
class LayerRow:
    path: str  # structural name, as in .params files: "features.4.0.body.0"
    depth: int
    kind: str
    detail: str
    output_shape: tuple[int, ...]
    params: int
    trainable: int
    macs: int


@dataclass
class Summary:
    model: str
    input_size: int
    classes: int
    layers: list[LayerRow]
    parameters: int
    trainable: int
    macs: int

    @property
    def size_mb(self) -> float:
        return self.parameters * 4 / 1e6

    def as_dict(self) -> dict[str, Any]:
        return {"model": self.model, "input_size": self.input_size, "classes": self.classes,
                "layers": [asdict(r) for r in self.layers],
                "totals": {"parameters": self.parameters, "trainable": self.trainable,
                           "macs": self.macs, "size_mb": round(self.size_mb, 3)}}


def _detail(block: Any) -> str:
    kwargs = getattr(block, "_kwargs", {})
    kind = type(block).__name__
    if kind == "Conv2D":
        weight = block.weight.shape
        k = "x".join(map(str, kwargs["kernel"]))
        stride = "" if kwargs["stride"] == (1, 1) else f"/{kwargs['stride'][0]}"
        groups = "" if kwargs["num_group"] == 1 else f" g{kwargs['num_group']}"
        return f"{weight[1] * kwargs['num_group']}->{weight[0]} {k}{stride}{groups}"
    if kind == "Dense":
        return f"{block.weight.shape[1]}->{block.weight.shape[0]}"
    if kind in ("MaxPool2D", "AvgPool2D"):
        return f"{'x'.join(map(str, kwargs['kernel']))}/{kwargs['stride'][0]}"
    if kind == "Activation":
        return block._act_type
    if match := re.search(r"(stage\d+)_$", block.prefix):
        return match.group(1)
    return ""


def _own_macs(block: Any, out_shape: tuple[int, ...]) -> int:
    kind = type(block).__name__
    if kind == "Conv2D":
        return int(np.prod(out_shape[1:])) * int(np.prod(block.weight.shape[1:]))
    if kind == "Dense":
        return int(np.prod(block.weight.shape))
    return 0


def summarize(net: Any, model: str, input_size: int, classes: int) -> Summary:
    """Run one 1x3xSxS forward pass through ``net`` (initialized) and tabulate it."""
    mx = mxnet()
    shapes: dict[int, tuple[int, ...]] = {}
    handles = []
    blocks: list[tuple[str, int, Any]] = []

    def visit(block: Any, path: str, depth: int) -> None:
        blocks.append((path, depth, block))
        handles.append(block.register_forward_hook(
            lambda b, _inputs, output: shapes.__setitem__(id(b), tuple(output.shape))))
        for key, child in block._children.items():
            visit(child, f"{path}.{key}" if path else key, depth + 1)

    image = mx.nd.zeros((1, 3, input_size, input_size))
    # A first pass without hooks completes deferred initialization (alexnet and vgg's dense
    # layers learn their input size from it); during it Gluon traces blocks symbolically,
    # where a hook would see Symbols, not shapes.
    net(image)
    visit(net, "", 0)
    try:
        net(image)
    finally:
        for handle in handles:
            handle.detach()

    totals: dict[int, tuple[int, int, int]] = {}  # id -> (params, trainable, macs)

    def total(block: Any) -> tuple[int, int, int]:
        if id(block) in totals:
            return totals[id(block)]
        params = trainable = 0
        for param in block._reg_params.values():
            size = int(np.prod(param.shape))
            params += size
            trainable += size if param.grad_req != "null" else 0
        macs = _own_macs(block, shapes.get(id(block), ()))
        for child in block._children.values():
            p, t, m = total(child)
            params, trainable, macs = params + p, trainable + t, macs + m
        totals[id(block)] = (params, trainable, macs)
        return totals[id(block)]

    rows = []
    for path, depth, block in blocks:
        params, trainable, macs = total(block)
        rows.append(LayerRow(path or model, depth, type(block).__name__, _detail(block),
                             shapes.get(id(block), ()), params, trainable, macs))
    params, trainable, macs = total(net)
    return Summary(model, input_size, classes, rows, params, trainable, macs)


def summarize_model(model: str, classes: int = 1000, input_size: int | None = None,
                    depth: int | None = None, model_dir: Path | None = None) -> Summary:
    """Summarize a registered model (freshly initialized: no weights needed), or the
    architecture a ``resnet build`` directory was made from; rows below ``depth`` are
    left out (totals still count them)."""
    if model_dir is not None:
        from resnet_cli.modeldir import read_dir

        description = read_dir(model_dir)
        model, classes = description.metadata["architecture"], description.metadata["classes"]
        input_size = input_size or description.input_size[1]
    spec = registry.get(model)
    net = spec.build(classes=classes)
    net.initialize()
    result = summarize(net, spec.name, input_size or spec.crop, classes)
    if depth is not None:
        result.layers = [row for row in result.layers if row.depth <= depth]
    return result
