"""Fixtures for every test: an isolated weights cache and settings (autouse), real photos
in tests/data, the ImageNet sample beside the checkout, one random ResNet-18, a server."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from devdata import SAMPLE
from helpers import Server

from resnet_cli import settings

DATA = Path(__file__).parent / "data"


@pytest.fixture(autouse=True)
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty weights cache and no mirror, so no test sees the user's ~/.cache/resnet
    or environment; settings are read afresh from this environment."""
    home = tmp_path / "resnet-home"
    monkeypatch.setenv("RESNET_HOME", str(home))
    monkeypatch.delenv("RESNET_MIRROR", raising=False)
    monkeypatch.delenv("RESNET_TIMEOUT", raising=False)
    monkeypatch.setattr(settings, "_current", None)
    return home


@pytest.fixture
def setenv(monkeypatch: pytest.MonkeyPatch) -> Callable[[str, str], None]:
    """Set an environment variable for this test and re-read the settings."""
    def set_variable(name: str, value: str) -> None:
        monkeypatch.setenv(name, value)
        settings.reload()
    return set_variable


@pytest.fixture(scope="session")
def photos() -> dict[str, Path]:
    return {p.stem: p for p in DATA.iterdir() if p.suffix in (".png", ".jpg")}


@pytest.fixture(scope="session")
def squeezenet():
    import resnet_cli

    return resnet_cli.load("squeezenet1.1")


@pytest.fixture(scope="session")
def sample_dir() -> Path:
    if not SAMPLE.is_dir():
        pytest.skip(f"ImageNet sample not present at {SAMPLE}")
    return SAMPLE


@pytest.fixture(scope="session")
def resnet18_params(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A ResNet-18 ``.params`` in the model zoo's layout (which ours shares): seeded random
    weights and non-trivial BatchNorm statistics, so a mis-mapped layer would show."""
    from resnet_cli.runtime import mxnet

    mx = mxnet()
    mx.random.seed(0)
    net = mx.gluon.model_zoo.vision.resnet18_v1()
    net.initialize(mx.init.Xavier())
    net(mx.nd.zeros((1, 3, 224, 224)))
    for name, param in net.collect_params().items():
        if name.endswith(("running_mean", "beta")):
            param.set_data(mx.nd.random.uniform(-0.2, 0.2, shape=param.shape))
        elif name.endswith(("running_var", "gamma")):
            param.set_data(mx.nd.random.uniform(0.5, 1.5, shape=param.shape))
    path = tmp_path_factory.mktemp("resnet18") / "resnet18_v1.params"
    net.save_parameters(str(path))
    return path


@pytest.fixture
def server(setenv: Callable[[str, str], None]) -> Iterator[Server]:
    """A real HTTP server on 127.0.0.1 standing in for the weights hosts (RESNET_MIRROR)."""
    srv = Server()
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    setenv("RESNET_MIRROR", srv.url)
    setenv("RESNET_TIMEOUT", "2")
    yield srv
    srv.shutdown()
    srv.server_close()
