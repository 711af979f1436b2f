"""Grad-CAM: where in the photo the evidence for a class lies.

The network's symbol is cut in two at its last spatial feature map (the output of the last
convolutional stage, before global pooling and the classifier): a body from the image to
that map, and a head from the map to the class scores.  The map is computed once, then
the head runs under MXNet autograd with one row per requested class, so one backward pass
gives every class's gradient.  Each channel is weighted by its mean gradient, the weighted
sum is clipped at zero (Selvaraju et al., 2017).  The graph is the plain, unfused one:
fused oneDNN operators fold BatchNorm away and have no gradients.
"""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from resnet_cli.errors import ResnetError
from resnet_cli.runtime import mxnet

FEATURES = "gradcam_features"
# Operators that pass a feature map on rather than compute one: never the explained layer.
_PASS_THROUGH = {"null", "Pooling", "Dropout", "Flatten", "Reshape", "_copy", "identity"}
_CLASSIFIERS = {"FullyConnected", "Convolution"}


@dataclass(frozen=True)
class Graph:
    """An unfused network as MXNet's symbol (input ``data``) with its parameter values."""

    symbol: Any
    params: dict[str, Any]


def graph_of_block(net: Any) -> Graph:
    """The plain graph of a Gluon block (even one hybridized or fused for inference)."""
    mx = mxnet()
    symbol = net(mx.sym.var("data"))
    return Graph(symbol, {p.name: p.data() for p in net.collect_params().values()})


def graph_of_files(symbol_file: Path, params_file: Path) -> Graph:
    """The graph MXNet's ``export`` wrote (``arg:``/``aux:`` prefixed parameter names)."""
    mx = mxnet()
    saved = mx.nd.load(str(params_file))
    return Graph(mx.sym.load(str(symbol_file)),
                 {name.split(":", 1)[-1]: value for name, value in saved.items()})


def _shapes(symbol: Any, crop: int) -> dict[str, tuple[int, ...]]:
    internals = symbol.get_internals()
    _, shapes, _ = internals.infer_shape(data=(1, 3, crop, crop))
    return dict(zip(internals.list_outputs(), shapes, strict=True))


def explained_layer(symbol: Any, crop: int) -> str:
    """The name of the last spatial feature map feeding the classifier.

    The classifier is the last dense or convolution layer; among the operators its input
    depends on, the latest one with an H x W > 1 output (pooling, dropout and reshapes
    excluded) is the last convolutional stage: ResNet's final ReLU, SqueezeNet's last
    Fire module, VGG's last convolution.
    """
    nodes = json.loads(symbol.tojson())["nodes"]
    shapes = _shapes(symbol, crop)
    classifier = max((i for i, n in enumerate(nodes) if n["op"] in _CLASSIFIERS), default=None)
    if classifier is None:
        raise ResnetError("Grad-CAM: the network has no convolution or dense layer")
    ancestors, stack = set(), [nodes[classifier]["inputs"][0][0]]
    while stack:
        i = stack.pop()
        if i not in ancestors:
            ancestors.add(i)
            stack.extend(edge[0] for edge in nodes[i]["inputs"])
    for i in sorted(ancestors, reverse=True):
        shape = shapes.get(f"{nodes[i]['name']}_output")
        if nodes[i]["op"] not in _PASS_THROUGH and shape and len(shape) == 4 \
                and shape[2] * shape[3] > 1:
            return nodes[i]["name"]
    raise ResnetError("Grad-CAM: no spatial feature map before the classifier")


def split(symbol: Any, layer: str) -> tuple[Any, Any]:
    """(body, head): image -> ``layer``'s output, and a variable ``FEATURES`` -> scores."""
    mx = mxnet()
    body = symbol.get_internals()[f"{layer}_output"]
    graph = json.loads(symbol.tojson())
    index = next(i for i, n in enumerate(graph["nodes"]) if n["name"] == layer)
    graph["nodes"][index] = {"op": "null", "name": FEATURES, "inputs": []}
    graph["arg_nodes"] = sorted({*graph["arg_nodes"], index})
    return body, mx.sym.load_json(json.dumps(graph))


def _block(symbol: Any, input_name: str, params: dict[str, Any]) -> Any:
    """A SymbolBlock over ``symbol`` with the values of exactly the parameters it uses."""
    mx = mxnet()
    with warnings.catch_warnings():  # "Cannot decide type for data": harmless, noisy
        warnings.simplefilter("ignore", UserWarning)
        block = mx.gluon.SymbolBlock(symbol, mx.sym.var(input_name))
    for name, param in block.collect_params().items():
        param._load_init(params[name], mx.cpu())
    return block


@dataclass(frozen=True)
class Explanation:
    """Class scores of one image and, per requested class, its Grad-CAM map in [0, 1]."""

    logits: np.ndarray  # (classes,)
    classes: list[int]
    maps: np.ndarray  # (len(classes), h, w), each scaled so its maximum is 1 (or all 0)
    raw: np.ndarray  # the same maps before scaling


class GradCam:
    """Grad-CAM for one network; call it with a preprocessed (3, crop, crop) tensor."""

    def __init__(self, graph: Graph, crop: int) -> None:
        self.layer = explained_layer(graph.symbol, crop)
        body, head = split(graph.symbol, self.layer)
        self.body = _block(body, "data", graph.params)
        self.head = _block(head, FEATURES, graph.params)

    def gradients(self, features: np.ndarray, classes: list[int]) -> tuple[np.ndarray,
                                                                           np.ndarray]:
        """(logits of the first row, d score[class_i] / d features for each class i).

        ``features`` is one (C, h, w) map, repeated once per class so a single backward
        pass through the head yields every class's gradient.
        """
        mx = mxnet()
        batch = mx.nd.array(np.repeat(features[None], len(classes), axis=0))
        batch.attach_grad()
        with mx.autograd.record(train_mode=False):
            logits = self.head(batch)
            onehot = mx.nd.one_hot(mx.nd.array(classes), logits.shape[1])
            selected = (logits * onehot).sum()
        selected.backward()
        return logits[0].asnumpy(), batch.grad.asnumpy()

    def features(self, tensor: np.ndarray) -> np.ndarray:
        """The explained layer's (C, h, w) output for one (3, crop, crop) tensor."""
        mx = mxnet()
        return self.body(mx.nd.array(tensor[None], dtype="float32"))[0].asnumpy()

    def __call__(self, tensor: np.ndarray, classes: list[int] | None = None,
                 topk: int = 3) -> Explanation:
        """Maps for ``classes``, or for the ``topk`` highest-scoring classes when None."""
        mx = mxnet()
        features = self.features(tensor)
        if classes is None:
            scores = self.head(mx.nd.array(features[None]))[0].asnumpy()
            classes = [int(i) for i in np.argsort(-scores, kind="stable")[:topk]]
        logits, grads = self.gradients(features, classes)
        raw = cam(features, grads)
        peak = raw.max(axis=(1, 2), keepdims=True)
        maps = np.divide(raw, peak, out=np.zeros_like(raw), where=peak > 0)
        return Explanation(logits, list(classes), maps, raw)


def cam(features: np.ndarray, grads: np.ndarray) -> np.ndarray:
    """ReLU(sum_c mean(grad_c) * A_c) for each class: (C, h, w), (k, C, h, w) -> (k, h, w)."""
    weights = grads.mean(axis=(2, 3))
    return np.maximum(np.einsum("kc,chw->khw", weights, features), 0.0)


@dataclass(frozen=True)
class HeatmapStats:
    """Where a heatmap (upsampled to the crop) peaks and how much of it is central."""

    peak_x: int
    peak_y: int
    centre_share: float  # fraction of the mass inside the crop's central half (1/4 area)

    def as_dict(self) -> dict[str, object]:
        return {"peak": {"x": self.peak_x, "y": self.peak_y},
                "centre_share": round(self.centre_share, 4)}


def upsample(heatmap: np.ndarray, size: int) -> np.ndarray:
    """Bilinear resize of an (h, w) map to (size, size), as the overlay shows it."""
    from PIL import Image

    image = Image.fromarray(heatmap.astype(np.float32), mode="F")
    return np.asarray(image.resize((size, size), Image.BILINEAR), dtype=np.float32)


def stats(heatmap: np.ndarray) -> HeatmapStats:
    """Peak (x, y) and the share of total mass in the central half of a square map."""
    size = heatmap.shape[0]
    y, x = np.unravel_index(int(np.argmax(heatmap)), heatmap.shape)
    lo, hi = size // 4, size - size // 4
    total = float(heatmap.sum())
    centre = float(heatmap[lo:hi, lo:hi].sum())
    return HeatmapStats(int(x), int(y), centre / total if total > 0 else 0.0)
