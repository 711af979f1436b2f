"""Fixtures for every test: an isolated weights cache and settings (autouse), real photos
in tests/data, the ImageNet sample beside the checkout, one random ResNet-18, a server."""

from __future__ import annotations

import json
import os
import shutil
import threading
from collections.abc import Callable, Iterator
from http.server import SimpleHTTPRequestHandler
from pathlib import Path

import pytest
from devdata import SAMPLE
from helpers import Server

from resnet_cli import settings

DATA = Path(__file__).parent / "data"

# MXNet's OpenMP threads spin between parallel regions by default. The suite runs MXNet
# beside decode threads, subprocesses and Dask workers on 2 cores, where a spinning thread
# holds the core its partner needs: `resnet summary` of ResNet-152 or DenseNet-121 measured
# 3-8x slower at load 5. Passive waiting changes no result, only who gets the CPU; the
# product keeps OpenMP's default (README, "Threads": measured within 14% either way).
os.environ.setdefault("OMP_WAIT_POLICY", "passive")


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
def sample_eval(sample_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """``resnet eval --model squeezenet1.1 -f json`` over the ImageNet sample, run once
    (1,000 decodes and forward passes): the accuracy test and the int8 comparison both
    judge this report. Its own empty weights cache, as the ``cache`` fixture gives a test."""
    from helpers import invoke

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("RESNET_HOME", str(tmp_path_factory.mktemp("resnet-home")))
        patch.delenv("RESNET_MIRROR", raising=False)
        patch.delenv("RESNET_TIMEOUT", raising=False)
        patch.setattr(settings, "_current", None)
        result = invoke("eval", str(sample_dir), "--model", "squeezenet1.1", "-f", "json")
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


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


class _SiteHandler(SimpleHTTPRequestHandler):
    """Serves a folder with listings; /denied/... answers 403, /slow/... never answers."""

    stop: threading.Event

    def do_GET(self) -> None:
        if not self.refused():
            super().do_GET()

    def do_HEAD(self) -> None:
        if not self.refused():
            super().do_HEAD()

    def refused(self) -> bool:
        if self.path.startswith("/denied/"):
            self.send_error(403)
        elif self.path.startswith("/slow/"):
            self.stop.wait(30)  # past any test's RESNET_TIMEOUT; released at teardown
        else:
            return False
        return True

    def log_message(self, *args: object) -> None:
        """Quiet: the tests' output is the records."""


@pytest.fixture(scope="session")
def http_site(tmp_path_factory) -> Iterator[tuple[str, Path]]:
    """(base URL, folder it serves) of a real HTTP server on 127.0.0.1."""
    import functools
    from http.server import ThreadingHTTPServer

    root = tmp_path_factory.mktemp("site")
    stop = threading.Event()
    handler = type("Handler", (_SiteHandler,), {"stop": stop})
    server = ThreadingHTTPServer(("127.0.0.1", 0),
                                 functools.partial(handler, directory=str(root)))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/", root
    stop.set()
    server.shutdown()
    server.server_close()
    thread.join()


S3_ENV = {"AWS_ACCESS_KEY_ID": "test-key-id", "AWS_SECRET_ACCESS_KEY": "test-secret-c0ffee",
          "AWS_DEFAULT_REGION": "us-east-1"}


@pytest.fixture(scope="session")
def s3_env() -> Iterator[dict[str, str]]:
    """A real S3 API (moto in server mode) on 127.0.0.1; the environment that reaches it.

    The variables are set in this process for the session (s3fs reads them the standard
    way) and returned so subprocesses can be given the same.
    """
    server_mod = pytest.importorskip("moto.server")
    server = server_mod.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    env = {**S3_ENV, "AWS_ENDPOINT_URL": f"http://{host}:{port}"}
    saved = {name: os.environ.get(name) for name in env}
    os.environ.update(env)
    yield env
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
    server.stop()


def photo_tree(root: Path, photos: dict[str, Path]) -> Path:
    """Two real photos (one in a subfolder), a broken JPEG and a file the walk skips."""
    (root / "sub").mkdir(parents=True)
    shutil.copy(photos["coffee"], root / "a_coffee.png")
    shutil.copy(photos["chelsea"], root / "sub" / "b_cat.png")
    (root / "c_text.jpg").write_text("this is not a picture\n")
    (root / "notes.txt").write_text("not an image extension")
    return root


@pytest.fixture(scope="session")
def bucket(s3_env, photos, tmp_path_factory) -> tuple[str, Path]:
    """s3://photos/set/ holding the same tree as the returned local folder."""
    import s3fs

    local = photo_tree(tmp_path_factory.mktemp("bucket") / "set", photos)
    fs = s3fs.S3FileSystem()
    fs.mkdir("photos")
    fs.put(str(local) + "/", "photos/set/", recursive=True)
    return "s3://photos/set/", local


@pytest.fixture(scope="session")
def site(http_site, photos) -> tuple[str, Path]:
    base, root = http_site
    local = photo_tree(root / "set", photos)
    return base, local
