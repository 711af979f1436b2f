"""Translate an MXNet symbol graph and its weights into an ONNX model (fp32, dynamic batch).

Our own mapping rather than ``mxnet.onnx``: MXNet 1.9.1's exporter imports ``onnx.mapping``,
which onnx removed in 1.16, and it lists the weights as graph inputs, which keeps ONNX
Runtime from folding them. The graph is read from MXNet's JSON and the weights are numpy
arrays, so this module needs neither MXNet nor a particular onnx release beyond the opset.
Operators outside the table raise ResnetError naming the operator.
"""

from __future__ import annotations

import ast
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from resnet_cli.errors import ResnetError

OPSET = 17  # read by ONNX Runtime >= 1.13 and OpenVINO >= 2022.3
INPUT, OUTPUT = "data", "logits"
ONNX_EXTRA = "pip install 'resnet-cli[onnx]'"


def onnx_module() -> Any:
    try:
        import onnx
    except ImportError:
        raise ResnetError(f"ONNX export needs the onnx package: {ONNX_EXTRA}") from None
    return onnx


@dataclass
class Graph:
    """The ONNX nodes and initializers built so far, keyed by MXNet's output names."""

    weights: dict[str, np.ndarray]
    nodes: list[Any] = field(default_factory=list)
    initializers: dict[str, np.ndarray] = field(default_factory=dict)

    def node(self, op: str, inputs: list[str], name: str, **attrs: Any) -> str:
        self.nodes.append(onnx_module().helper.make_node(op, inputs, [name], name=name,
                                                         **attrs))
        return name

    def constant(self, name: str, value: np.ndarray) -> str:
        self.initializers[name] = value
        return name

    def weight(self, name: str) -> str:
        if name not in self.weights:
            raise ResnetError(f"ONNX export: no weights for {name!r}")
        return self.constant(name, self.weights[name])


def _attrs(node: dict[str, Any]) -> dict[str, Any]:
    """MXNet stores every attribute as text: '(3, 3)', 'True', '1e-05', 'relu'."""
    parsed = {}
    for key, text in node.get("attrs", {}).items():
        try:
            parsed[key] = ast.literal_eval(text)
        except (ValueError, SyntaxError):
            parsed[key] = text
    return parsed


def _pair(value: Any, default: int, rank: int) -> list[int]:
    if value is None or value == ():
        return [default] * rank
    return [int(v) for v in (value if isinstance(value, tuple) else (value,) * rank)]


def _convolution(g: Graph, name: str, inputs: list[str], a: dict[str, Any]) -> str:
    if a.get("layout", "NCHW") != "NCHW":
        raise ResnetError(f"ONNX export: layout {a['layout']} of {name} is not NCHW")
    kernel = list(a["kernel"])
    pad = _pair(a.get("pad"), 0, len(kernel))
    return g.node("Conv", inputs, name, kernel_shape=kernel,
                  strides=_pair(a.get("stride"), 1, len(kernel)),
                  dilations=_pair(a.get("dilate"), 1, len(kernel)),
                  pads=pad + pad, group=int(a.get("num_group", 1)))


def _batchnorm(g: Graph, name: str, inputs: list[str], a: dict[str, Any]) -> str:
    if int(a.get("axis", 1)) != 1:
        raise ResnetError(f"ONNX export: BatchNorm {name} normalizes axis {a['axis']}")
    data, gamma, beta, mean, var = inputs
    if a.get("fix_gamma", True):  # MXNet then ignores gamma and scales by 1
        gamma = g.constant(f"{name}_unit_gamma", np.ones_like(g.initializers[gamma]))
    return g.node("BatchNormalization", [data, gamma, beta, mean, var], name,
                  epsilon=float(a.get("eps", 1e-3)))


ACTIVATIONS = {"relu": "Relu", "sigmoid": "Sigmoid", "tanh": "Tanh", "softrelu": "Softplus"}


def _activation(g: Graph, name: str, inputs: list[str], a: dict[str, Any]) -> str:
    kind = a.get("act_type")
    if kind not in ACTIVATIONS:
        raise ResnetError(f"ONNX export: activation {kind!r} of {name} has no mapping")
    return g.node(ACTIVATIONS[kind], inputs, name)


def _pooling(g: Graph, name: str, inputs: list[str], a: dict[str, Any]) -> str:
    kind = a.get("pool_type", "max")
    if kind not in ("max", "avg"):
        raise ResnetError(f"ONNX export: {kind} pooling of {name} has no mapping")
    if a.get("global_pool", False):
        return g.node("GlobalMaxPool" if kind == "max" else "GlobalAveragePool", inputs, name)
    kernel = list(a["kernel"])
    pad = _pair(a.get("pad"), 0, len(kernel))
    extra = {"count_include_pad": int(a.get("count_include_pad", True))} if kind == "avg" else {}
    return g.node("MaxPool" if kind == "max" else "AveragePool", inputs, name,
                  kernel_shape=kernel, strides=_pair(a.get("stride"), 1, len(kernel)),
                  pads=pad + pad, ceil_mode=int(a.get("pooling_convention") == "full"),
                  **extra)


def _fully_connected(g: Graph, name: str, inputs: list[str], a: dict[str, Any]) -> str:
    if not a.get("flatten", True):
        raise ResnetError(f"ONNX export: FullyConnected {name} without flatten")
    flat = g.node("Flatten", inputs[:1], f"{name}_flatten", axis=1)
    return g.node("Gemm", [flat, *inputs[1:]], name, transB=1)


def _clip(g: Graph, name: str, inputs: list[str], a: dict[str, Any]) -> str:
    low = g.constant(f"{name}_min", np.array(a["a_min"], dtype=np.float32))
    high = g.constant(f"{name}_max", np.array(a["a_max"], dtype=np.float32))
    return g.node("Clip", [inputs[0], low, high], name)


Converter = Callable[[Graph, str, list[str], dict[str, Any]], str]
CONVERTERS: dict[str, Converter] = {
    "Convolution": _convolution,
    "BatchNorm": _batchnorm,
    "Activation": _activation,
    "relu": lambda g, n, i, a: g.node("Relu", i, n),
    "Pooling": _pooling,
    "FullyConnected": _fully_connected,
    "clip": _clip,
    "Flatten": lambda g, n, i, a: g.node("Flatten", i, n, axis=1),
    "Concat": lambda g, n, i, a: g.node("Concat", i, n, axis=int(a.get("dim", 1))),
    "Dropout": lambda g, n, i, a: g.node("Identity", i[:1], n),  # inference: a no-op
    "_copy": lambda g, n, i, a: g.node("Identity", i, n),
    **{op: (lambda g, n, i, a: g.node("Add", i, n))
       for op in ("elemwise_add", "broadcast_add", "_Plus", "_plus")},
}


def convert(symbol_json: str, weights: dict[str, np.ndarray], crop: int, name: str) -> Any:
    """An ``onnx.ModelProto`` computing the same logits as the MXNet graph, batch dynamic."""
    onnx = onnx_module()
    helper = onnx.helper
    graph_json = json.loads(symbol_json)
    nodes = graph_json["nodes"]
    g = Graph({k: np.asarray(v, dtype=np.float32) for k, v in weights.items()})
    outputs: list[str] = []
    for node in nodes:
        if node["op"] == "null":
            outputs.append(INPUT if node["name"] == "data" else g.weight(node["name"]))
            continue
        if any(index != 0 for _, index, _ in node["inputs"]):
            raise ResnetError(f"ONNX export: {node['name']} reads a secondary output")
        converter = CONVERTERS.get(node["op"])
        if converter is None:
            raise ResnetError(f"ONNX export: MXNet operator {node['op']} ({node['name']}) "
                              f"has no ONNX mapping yet")
        inputs = [outputs[source] for source, _, _ in node["inputs"]]
        outputs.append(converter(g, node["name"], inputs, _attrs(node)))
    heads = graph_json["heads"]
    if len(heads) != 1:
        raise ResnetError(f"ONNX export: the graph has {len(heads)} outputs, expected 1")
    g.node("Identity", [outputs[heads[0][0]]], OUTPUT)
    graph = helper.make_graph(
        g.nodes, name,
        [helper.make_tensor_value_info(INPUT, onnx.TensorProto.FLOAT,
                                       ["batch", 3, crop, crop])],
        [helper.make_tensor_value_info(OUTPUT, onnx.TensorProto.FLOAT, ["batch", None])],
        [onnx.numpy_helper.from_array(value, key) for key, value in g.initializers.items()])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                              producer_name="resnet-cli")
    model.ir_version = min(model.ir_version, 8)  # readable by ONNX Runtime >= 1.13
    onnx.checker.check_model(model)
    return model


def from_mxnet(net: Any, crop: int, name: str) -> Any:
    """Convert a Gluon block (plain, not oneDNN-fused) via its symbol and parameters."""
    from resnet_cli.runtime import mxnet

    mx = mxnet()
    symbol = net(mx.sym.var(INPUT))
    weights = {key: p.data().asnumpy() for key, p in net.collect_params().items()}
    return convert(symbol.tojson(), weights, crop, name)
