"""``resnet explain``: Grad-CAM heatmaps of one photo, drawn as one PNG and summarized.

The first panel is the photo as the model saw it (resized and center-cropped); each further
panel overlays one class's heatmap with its label and probability.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from resnet_cli.classifier import softmax
from resnet_cli.errors import ResnetError
from resnet_cli.gradcam import GradCam, Graph, HeatmapStats, stats, upsample
from resnet_cli.preprocess import Preprocessing, center_crop, load_rgb, normalize, resize_shorter
from resnet_cli.records import ImageNetClass

OVERLAY_ALPHA = 0.5
CAPTION = 40  # pixels under each panel: label, then probability and rank
MARGIN = 8


@dataclass(frozen=True)
class Explainable:
    """What explain needs of a model: its plain graph, class names and preprocessing."""

    name: str
    graph: Graph
    classes: tuple[ImageNetClass, ...]
    preprocess: Preprocessing


def from_model(model: str, weights: str | os.PathLike[str] | None, progress: bool,
               notify: Any) -> Explainable:
    """A model by name, its weights located (fetched if needed) as for ``predict``."""
    from resnet_cli.classifier import Classifier
    from resnet_cli.gradcam import graph_of_block

    classifier = Classifier.load(model, weights, progress=progress, notify=notify, fuse=False)
    return Explainable(classifier.name, graph_of_block(classifier.net), classifier.classes,
                       classifier.preprocess)


def from_dir(path: str | os.PathLike[str]) -> Explainable:
    """An fp32 directory from ``resnet build``; an int8 one has no gradients to follow."""
    from resnet_cli import modeldir
    from resnet_cli.gradcam import graph_of_files

    description = modeldir.read_dir(Path(path))
    if description.metadata.get("int8"):
        raise ResnetError(f"model dir {path} is int8, which has no gradients: explain needs "
                          f"its fp32 twin (resnet build without --int8)")
    modeldir.load_symbol(description)  # its output size checked against the labels
    graph = graph_of_files(description.path / modeldir.SYMBOL,
                           description.path / modeldir.PARAMS)
    return Explainable(description.name, graph, description.classes, description.preprocessing)


def resolve_class(text: str, classes: tuple[ImageNetClass, ...]) -> int:
    """A class index from an index, a WordNet id or a name (any case, _ for spaces)."""
    if text.isdigit():
        if int(text) < len(classes):
            return int(text)
        raise ResnetError(f"class index {text} out of range (0-{len(classes) - 1})")
    key = text.replace("_", " ").strip().casefold()
    for c in classes:
        if key in (c.wnid.casefold(), c.label.casefold()):
            return c.index
    raise ResnetError(f"unknown class {text!r} (give an index, a WordNet id or a name)")


@dataclass(frozen=True)
class ClassMap:
    """One explained class: which, how probable, its heatmap at crop size, its statistics."""

    index: int
    label: str
    probability: float
    rank: int
    heatmap: np.ndarray  # (crop, crop) in [0, 1]
    stats: HeatmapStats


@dataclass(frozen=True)
class Result:
    path: str
    model: str
    layer: str
    crop: Image.Image
    input_size: tuple[int, int]
    maps: list[ClassMap]

    def as_dict(self, output: str) -> dict[str, object]:
        return {
            "path": self.path, "model": self.model, "layer": self.layer, "output": output,
            "input": {"resize": self.input_size[0], "crop": self.input_size[1]},
            "classes": [{"rank": m.rank, "index": m.index, "label": m.label,
                         "probability": m.probability, **m.stats.as_dict()}
                        for m in self.maps],
        }


def explain(path: str, model: Explainable, topk: int, wanted: list[int]) -> Result:
    """Grad-CAM of ``path`` for the classes ``wanted``, or else the model's top ``topk``."""
    pre = model.preprocess
    crop_size = pre.crop
    crop = center_crop(resize_shorter(load_rgb(path), pre.resize), crop_size)
    gradcam = GradCam(model.graph, crop_size)
    explanation = gradcam(normalize(crop, pre.mean, pre.std), wanted or None, topk)
    probabilities = softmax(explanation.logits[None])[0]
    order = np.argsort(-probabilities, kind="stable")
    ranks = {int(index): rank + 1 for rank, index in enumerate(order)}
    maps = []
    for index, small in zip(explanation.classes, explanation.maps, strict=True):
        heatmap = upsample(small, crop_size)
        maps.append(ClassMap(index, model.classes[index].label, float(probabilities[index]),
                             ranks[index], heatmap, stats(heatmap)))
    return Result(path, model.name, gradcam.layer, crop, (pre.resize, pre.crop), maps)


def colorize(heatmap: np.ndarray) -> np.ndarray:
    """The 'jet' colour map (blue, cyan, yellow, red) as uint8 RGB."""
    x = np.clip(heatmap, 0.0, 1.0)[..., None]
    rgb = np.clip(1.5 - np.abs(4.0 * x - np.array([3.0, 2.0, 1.0])), 0.0, 1.0)
    return (255 * rgb).astype(np.uint8)


def overlay(crop: Image.Image, heatmap: np.ndarray) -> Image.Image:
    return Image.blend(crop, Image.fromarray(colorize(heatmap), "RGB"), OVERLAY_ALPHA)


def render(result: Result) -> Image.Image:
    """One row of panels: the model's input, then one overlay per class, captioned."""
    size = result.crop.width
    panels = [(result.crop, f"input: {size}x{size} crop",
               f"of shorter side {result.input_size[0]}")]
    panels += [(overlay(result.crop, m.heatmap), m.label,
                f"p={m.probability:.4f}  rank {m.rank}") for m in result.maps]
    width = MARGIN + len(panels) * (size + MARGIN)
    canvas = Image.new("RGB", (width, size + CAPTION + 2 * MARGIN), "white")
    draw = ImageDraw.Draw(canvas)
    font = ImageFont.load_default(size=14)
    for i, (image, title, subtitle) in enumerate(panels):
        x = MARGIN + i * (size + MARGIN)
        canvas.paste(image, (x, MARGIN))
        draw.text((x, MARGIN + size + 4), fit(draw, title, font, size), fill="black", font=font)
        draw.text((x, MARGIN + size + 22), subtitle, fill=(90, 90, 90), font=font)
    return canvas


def fit(draw: ImageDraw.ImageDraw, text: str, font: Any, width: int) -> str:
    """``text``, cut with an ellipsis to fit ``width`` pixels."""
    if draw.textlength(text, font=font) <= width:
        return text
    while text and draw.textlength(text + "...", font=font) > width:
        text = text[:-1]
    return text + "..."


def default_output(path: str) -> Path:
    """Where the PNG goes without -o: the current folder, never beside the input."""
    return Path(f"{Path(path).stem}.gradcam.png")


def summary_lines(result: Result, output: str) -> list[str]:
    """The text report: where the PNG went, then one line per explained class."""
    width = max(len(m.label) for m in result.maps)
    lines = [f"{output}: Grad-CAM of {result.path} ({result.model}, layer {result.layer})"]
    lines += [f"  {m.rank:>4}  {m.label:<{width}}  {m.probability:.4f}  "
              f"peak ({m.stats.peak_x}, {m.stats.peak_y})  centre {m.stats.centre_share:.0%}"
              for m in result.maps]
    return lines
