"""torchvision/timm weights -> Gluon layout, proven against real torch; unsafe pickles refused.

torch is a test-only extra (CI installs it); without it these tests skip with a reason.
"""

from __future__ import annotations

import hashlib
import io
import json
import pickle
import zipfile
from pathlib import Path

import numpy as np
import pytest
from helpers import invoke, use_sources

from resnet_cli import registry
from resnet_cli.errors import ResnetError
from resnet_cli.preprocess import Preprocessing
from resnet_cli.torch_formats import read_pth

torch = pytest.importorskip("torch", reason="torch not installed (the test extra brings it on "
                                             "Python 3.11 only: on 3.12 pip would fetch CUDA)")
safetensors_torch = pytest.importorskip("safetensors.torch")

from torch_resnet import randomized  # noqa: E402 - needs torch


@pytest.fixture(scope="module")
def torch_net():
    return randomized()


@pytest.fixture(scope="module")
def torch_logits(torch_net):
    def logits(path: Path) -> np.ndarray:
        x = torch.from_numpy(Preprocessing()(path)[None])
        with torch.no_grad():
            return torch_net(x).numpy()[0]
    return logits


def probabilities(logits: np.ndarray) -> np.ndarray:
    z = np.exp(logits.astype(np.float64) - logits.max())
    return z / z.sum()


def predict_all(image: Path) -> np.ndarray:
    result = invoke("predict", "--model", "resnet18_v1", "-f", "json",
                                      "-k", "1000", str(image))
    assert result.exit_code == 0, result.output
    probs = np.zeros(1000)
    for p in json.loads(result.stdout)[0]["predictions"]:
        probs[p["index"]] = p["probability"]
    return probs


def gluon_logits(params: Path, image: Path) -> np.ndarray:
    from resnet_cli.network import resnet18
    from resnet_cli.runtime import mxnet

    mx = mxnet()
    net = resnet18()
    net.load_parameters(str(params))
    return net(mx.nd.array(Preprocessing()(image)[None])).asnumpy()[0]


@pytest.mark.parametrize("fmt", ["pth", "safetensors"])
def test_import_gives_same_logits_as_torch(fmt, torch_net, torch_logits, photos, tmp_path,
                                           cache):
    path = tmp_path / f"resnet18.{fmt}"
    state = torch_net.state_dict()
    if fmt == "pth":
        torch.save(state, path)
    else:  # timm/HF naming is torchvision's; safetensors has no num_batches_tracked issue
        safetensors_torch.save_file({k: v.contiguous() for k, v in state.items()}, str(path))
    result = invoke("weights", "import", str(path), "--model", "resnet18")
    assert result.exit_code == 0, result.output
    cached = cache / "resnet18_v1.params"
    assert result.stdout.strip() == str(cached)
    for name in ("chelsea", "coffee", "rocket"):
        ours = gluon_logits(cached, photos[name])
        assert np.abs(ours - torch_logits(photos[name])).max() <= 1e-4
    np.testing.assert_allclose(predict_all(photos["coffee"]),
                               probabilities(torch_logits(photos["coffee"])), atol=1e-6)


def test_fetch_falls_back_to_torchvision_file(server, monkeypatch, torch_net,
                                              torch_logits, photos, tmp_path, cache):
    buf = io.BytesIO()
    torch.save(torch_net.state_dict(), buf)
    data = buf.getvalue()
    name = f"resnet18-{hashlib.sha256(data).hexdigest()[:8]}.pth"
    zoo = registry.get("resnet18_v1").sources[0]
    use_sources(monkeypatch, "resnet18_v1", zoo, registry.torchvision_file(name))
    server.routes[name] = ("ok", data)  # the zoo zip is absent: 404
    result = invoke("weights", "fetch", "resnet18_v1")
    assert result.exit_code == 0, result.output
    record = json.loads((cache / "resnet18_v1.json").read_text())
    assert record["kind"] == "torchvision" and record["source"].endswith(name)
    ours = gluon_logits(cache / "resnet18_v1.params", photos["rocket"])
    assert np.abs(ours - torch_logits(photos["rocket"])).max() <= 1e-4


def test_pth_with_wrong_hash_prefix_is_refused(server, monkeypatch, torch_net,
                                               cache):
    buf = io.BytesIO()
    torch.save(torch_net.state_dict(), buf)
    use_sources(monkeypatch, "resnet18_v1", registry.torchvision_file("resnet18-00000000.pth"))
    server.routes["resnet18-00000000.pth"] = ("ok", buf.getvalue())
    result = invoke("weights", "fetch", "resnet18_v1")
    assert result.exit_code == 2
    assert "does not start with 00000000" in result.stderr
    assert not (cache / "resnet18_v1.params").exists()


class _Exploit:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        import os

        return (os.system, (f"touch {self.marker}",))


def test_pth_whose_pickle_runs_a_command_is_refused(tmp_path, cache):
    marker = tmp_path / "pwned"
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as archive:
        archive.writestr("evil/data.pkl", pickle.dumps({"conv1.weight": _Exploit(marker)}))
        archive.writestr("evil/version", "3\n")
    evil = tmp_path / "evil.pth"
    evil.write_bytes(buf.getvalue())
    with pytest.raises(ResnetError, match=r"refused, refusing to load posix\.system"):
        read_pth(evil)
    result = invoke("weights", "import", str(evil), "--model", "resnet18")
    assert result.exit_code == 2
    assert "refusing to load posix.system" in result.stderr
    assert not marker.exists()
    assert not (cache / "resnet18_v1.params").exists()


def test_torch_save_of_a_whole_module_is_refused(torch_net, tmp_path):
    path = tmp_path / "module.pth"
    torch.save(torch_net, path)  # pickles classes by reference: not a state dict
    with pytest.raises(ResnetError, match="refusing to load"):
        read_pth(path)


def test_not_a_resnet_state_dict_is_a_clear_error(tmp_path, cache):
    path = tmp_path / "other.pth"
    torch.save({"encoder.weight": torch.zeros(3)}, path)
    result = invoke("weights", "import", str(path), "--model", "resnet18")
    assert result.exit_code == 2
    assert "unexpected tensor 'encoder.weight'" in result.stderr
