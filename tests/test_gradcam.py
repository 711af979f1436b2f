"""Grad-CAM: gradients against finite differences, layer choice, heatmaps on real photos."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from resnet_cli import registry
from resnet_cli.gradcam import GradCam, cam, explained_layer, graph_of_block, stats
from resnet_cli.runtime import mxnet


def small_network():
    """conv-relu-conv-tanh, then pool and a two-layer smooth head: 5 classes, 8x8 input."""
    mx = mxnet()
    nn = mx.gluon.nn
    net = nn.HybridSequential()
    net.add(nn.Conv2D(4, 3, padding=1, in_channels=3), nn.Activation("relu"),
            nn.Conv2D(6, 3, padding=1, in_channels=4), nn.Activation("tanh"),
            nn.GlobalAvgPool2D(), nn.Flatten(), nn.Dense(8, activation="tanh", in_units=6),
            nn.Dense(5, in_units=8))
    mx.random.seed(7)
    net.initialize(mx.init.Normal(0.5))
    return net


def test_gradients_match_finite_differences():
    mx = mxnet()
    net = small_network()
    gradcam = GradCam(graph_of_block(net), crop=8)
    x = np.random.default_rng(0).normal(size=(3, 8, 8)).astype(np.float32)
    features = gradcam.features(x)
    assert features.shape == (6, 8, 8)  # the tanh after the second convolution
    classes = [1, 3]
    logits, grads = gradcam.gradients(features, classes)
    np.testing.assert_allclose(logits, net(mx.nd.array(x[None]))[0].asnumpy(), rtol=1e-5)

    def score(f: np.ndarray, c: int) -> float:
        return float(gradcam.head(mx.nd.array(f[None]))[0, c].asscalar())

    eps = 1e-2
    rng = np.random.default_rng(1)
    for k, c in enumerate(classes):
        for _ in range(40):
            i = tuple(int(rng.integers(n)) for n in features.shape)
            up, down = features.copy(), features.copy()
            up[i] += eps
            down[i] -= eps
            numeric = (score(up, c) - score(down, c)) / (2 * eps)
            assert grads[k][i] == pytest.approx(numeric, rel=2e-2, abs=2e-4)
    # the two classes' gradients differ: one backward pass did not mix rows
    assert not np.allclose(grads[0], grads[1])


def test_cam_is_relu_of_gradient_weighted_channels():
    rng = np.random.default_rng(2)
    features, grads = rng.normal(size=(4, 3, 3)), rng.normal(size=(2, 4, 3, 3))
    expected = [np.maximum(sum(g[c].mean() * features[c] for c in range(4)), 0) for g in grads]
    np.testing.assert_allclose(cam(features, grads), expected)


@pytest.mark.parametrize(("name", "side"), [
    ("resnet18_v1", 7), ("resnet50_v2", 7), ("squeezenet1.1", 13), ("vgg11_bn", 14),
    ("densenet121", 7), ("mobilenetv2_0.25", 7), ("inceptionv3", 8),
])
def test_explained_layer_is_the_last_spatial_stage(name, side):
    mx = mxnet()
    spec = registry.get(name)
    crop = spec.crop
    symbol = spec.build(classes=1000)(mx.sym.var("data"))
    layer = explained_layer(symbol, crop)
    internals = symbol.get_internals()
    _, (shape,), _ = internals[f"{layer}_output"].infer_shape(data=(1, 3, crop, crop))
    assert shape[2:] == (side, side)
    assert "pool" not in layer and "dropout" not in layer


def composite(photo: Image.Image, left: int) -> tuple[Image.Image, tuple[int, int, int, int]]:
    """A 256x256 flat grey canvas with ``photo`` (144x144) pasted at x=left, and the
    pasted box in the coordinates of the model's 224x224 center crop."""
    side = min(photo.size)
    square = photo.convert("RGB").crop(((photo.width - side) // 2, (photo.height - side) // 2,
                                        (photo.width + side) // 2, (photo.height + side) // 2))
    canvas = Image.new("RGB", (256, 256), (128, 128, 128))
    canvas.paste(square.resize((144, 144), Image.BILINEAR), (left, 56))
    return canvas, (left - 16, 40, left - 16 + 144, 184)


@pytest.mark.parametrize(("name", "label"), [("chelsea", "Egyptian cat"),
                                             ("coffee", "espresso")])
@pytest.mark.parametrize("left", [16, 96])
def test_heatmap_mass_lies_on_the_photo_not_the_background(name, label, left, photos,
                                                           tmp_path, cache):
    from resnet_cli import explain as ex

    canvas, (x0, y0, x1, y1) = composite(Image.open(photos[name]), left)
    canvas.save(tmp_path / "composite.png")
    squeezenet = ex.from_model("squeezenet1.1", None, False, lambda _message: None)
    index = ex.resolve_class(label, squeezenet.classes)
    (result,) = ex.explain(str(tmp_path / "composite.png"), squeezenet, 1, [index]).maps
    area = (x1 - x0) * (y1 - y0) / 224**2  # 41% of the crop
    on_photo = result.heatmap[y0:y1, x0:x1].sum() / result.heatmap.sum()
    assert on_photo > 0.7 > area + 0.25
    assert x0 <= result.stats.peak_x < x1 and y0 <= result.stats.peak_y < y1


def test_stats_peak_and_centre_share():
    heatmap = np.zeros((8, 8))
    heatmap[3, 5] = 3.0
    heatmap[0, 0] = 1.0
    result = stats(heatmap)
    assert (result.peak_x, result.peak_y) == (5, 3)
    assert result.centre_share == pytest.approx(0.75)
