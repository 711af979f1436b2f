"""Hostile servers, killed downloads, racing processes, damaged caches and bad settings,
against a real HTTP server on 127.0.0.1 (the internet is the one thing replaced)."""

from __future__ import annotations

import errno
import hashlib
import io
import os
import shutil
import signal
import subprocess
import sys
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import invoke, use_sources
from weights_helpers import cache_leftovers, one_line

from resnet_cli import download, registry

MODEL = "resnet18_v1"


def publish(server, monkeypatch, params: bytes, behaviour: str = "ok",
            payload: object = None) -> str:
    """Serve a model-zoo zip of ``params`` as ResNet-18's only source; its route name."""
    sha1 = hashlib.sha1(params).hexdigest()
    zoo = registry.gluon_zoo_file(MODEL, sha1)
    use_sources(monkeypatch, MODEL, zoo)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as archive:
        archive.writestr(zoo.filename.removesuffix(".zip") + ".params", params)
    server.routes[zoo.filename] = (behaviour, buf.getvalue() if payload is None else payload)
    return zoo.filename


@pytest.fixture(scope="module")
def params(resnet18_params) -> bytes:
    return resnet18_params.read_bytes()


def refused(result, reason: str, cache: Path) -> str:
    line = one_line(result.stderr)
    assert result.exit_code == 2, result.output
    assert reason in line, line
    assert cache_leftovers(cache) == [], "partial files left in the cache"
    return line


def test_a_dripping_server_is_abandoned_at_the_deadline(server, monkeypatch, setenv, cache):
    """One byte every 0.2 s never trips the 2 s wait for data; the deadline does."""
    name = publish(server, monkeypatch, b"", "drip", bytes(100_000))
    setenv("RESNET_DEADLINE", "2")
    start = time.monotonic()
    result = invoke("weights", "fetch", MODEL)
    assert time.monotonic() - start < 2 + 2 + 1.5  # deadline + one wait + slack
    refused(result, f"{server.url}{name}: not finished after 2 s (RESNET_DEADLINE)", cache)


def test_an_endless_response_is_cut_at_the_size_cap(server, monkeypatch, cache):
    name = publish(server, monkeypatch, b"", "endless", None)  # no Content-Length
    monkeypatch.setattr(download, "MAX_BYTES", 4 << 20)
    refused(invoke("weights", "fetch", MODEL), "sent more than the expected 4194304 bytes",
            cache)
    assert server.sent[name] < 64 << 20  # what sat in socket buffers, not gigabytes


def test_a_response_longer_than_it_declared_is_cut_at_its_length(server, monkeypatch, cache):
    name = publish(server, monkeypatch, b"", "endless", 1000)
    line = refused(invoke("weights", "fetch", MODEL), "", cache)
    assert f"{name}: not a zip" in line  # 1000 bytes read, the rest never was


def test_a_declared_size_beyond_the_cap_is_refused_unread(server, monkeypatch, cache):
    name = publish(server, monkeypatch, b"", "endless", 10 << 30)
    refused(invoke("weights", "fetch", MODEL),
            f"{name}: declares 10737418240 bytes, more than the 1073741824", cache)


def _child(sha1: str, body: str) -> str:
    """Python for a child process whose ResNet-18 source is the test server's zip."""
    return ("import dataclasses, sys; from resnet_cli import registry; "
            f"spec = registry.MODELS['{MODEL}']; "
            f"registry.MODELS['{MODEL}'] = dataclasses.replace(spec, sources=("
            f"registry.gluon_zoo_file('{MODEL}', '{sha1}'),)); " + body)


def test_partial_file_of_a_killed_download_is_cleaned_by_the_next(server, monkeypatch,
                                                                  params, cache):
    name = publish(server, monkeypatch, params)
    ok = server.routes[name]
    server.routes[name] = ("drip", ok[1])
    child = subprocess.Popen(
        [sys.executable, "-c", _child(hashlib.sha1(params).hexdigest(),
                                      "from resnet_cli.cli import main; sys.argv = "
                                      f"['resnet', 'weights', 'fetch', '{MODEL}']; main()")],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=dict(os.environ))
    deadline = time.monotonic() + 60
    while not list(cache.glob(".*.part")) and time.monotonic() < deadline:
        time.sleep(0.1)
    child.send_signal(signal.SIGKILL)  # no handler can clean up after this one
    child.wait(10)
    (stale,) = cache.glob(".*.part")
    server.routes[name] = ok
    result = invoke("weights", "fetch", MODEL)
    assert result.exit_code == 0, result.output
    assert not stale.exists() and cache_leftovers(cache) == [f"{MODEL}.json", f"{MODEL}.params"]


def test_concurrent_first_uses_download_once(server, monkeypatch, params, cache, photos):
    """Four processes needing the weights at once (the first use of predict): one fetch."""
    name = publish(server, monkeypatch, params, "slow")
    locate = _child(hashlib.sha1(params).hexdigest(), "from resnet_cli.weights.fetch "
                    f"import locate; print(locate('{MODEL}'))")
    procs = [subprocess.Popen([sys.executable, "-c", locate], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, env=dict(os.environ)) for _ in range(4)]
    outputs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0] * 4, outputs
    assert {out.decode().strip() for out, _ in outputs} == {str(cache / f"{MODEL}.params")}
    assert server.hits[name] == 1
    assert (cache / f"{MODEL}.params").read_bytes() == params


@pytest.mark.parametrize("damage", ["bit flip, same size and mtime", "truncated"])
def test_damaged_cache_is_reported_and_fetched_again_on_load(damage, server, monkeypatch,
                                                             params, cache, photos):
    name = publish(server, monkeypatch, params)
    assert invoke("weights", "fetch", MODEL).exit_code == 0
    path = cache / f"{MODEL}.params"
    stat = path.stat()
    data = bytearray(path.read_bytes())
    if damage == "truncated":
        del data[len(data) // 2:]  # MXNet could not even parse it
    else:
        data[len(data) // 2] ^= 0x01  # one weight, one bit: nothing but the hash sees it
    path.write_bytes(bytes(data))
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    result = invoke("predict", "-f", "jsonl", str(photos["coffee"]))
    assert result.exit_code == 0, result.output
    assert "does not match the recorded" in result.stderr
    assert "fetching again" in result.stderr
    assert server.hits[name] == 2 and path.read_bytes() == params


@pytest.mark.parametrize(("name", "value", "reason"), [
    ("RESNET_TIMEOUT", "-1", "RESNET_TIMEOUT='-1': not a positive number of seconds"),
    ("RESNET_TIMEOUT", "nan", "RESNET_TIMEOUT='nan'"),
    ("RESNET_TIMEOUT", "inf", "RESNET_TIMEOUT='inf'"),
    ("RESNET_TIMEOUT", "soon", "RESNET_TIMEOUT='soon'"),
    ("RESNET_DEADLINE", "0", "RESNET_DEADLINE='0'"),
    ("RESNET_MIRROR", "http://[::1", "RESNET_MIRROR='http://[::1': not a URL"),
    ("RESNET_MIRROR", "http://host:port/", "RESNET_MIRROR='http://host:port/': not a URL"),
    ("RESNET_MIRROR", "ftp://127.0.0.1/", "not an http:// or https:// URL"),
    ("RESNET_MIRROR", "127.0.0.1:8000", "not an http:// or https:// URL"),
])
def test_invalid_settings_are_one_line_and_exit_2(name, value, reason, cache):
    for args in (["weights", "fetch", MODEL], ["weights", "list"]):
        result = invoke(*args, env={name: value})  # settings are read when first needed
        assert result.exit_code == 2 and reason in one_line(result.stderr), result.output


def test_resnet_home_that_is_a_file(tmp_path, cache):
    home = tmp_path / "home-file"
    home.write_text("not a directory")
    result = invoke("weights", "fetch", MODEL, env={"RESNET_HOME": str(home)})
    assert result.exit_code == 2
    assert f"weights cache {home} (RESNET_HOME) is not a directory" in one_line(result.stderr)


@pytest.fixture
def full_disk(tmp_path, monkeypatch) -> Iterator[tuple[Path, bool]]:
    """(cache, real): a 1 MiB tmpfs when this process may mount one (root, as here);
    else a cache where copying a file fails with ENOSPC (the disk is truly outside)."""
    mount = tmp_path / "tiny"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount)],
                          capture_output=True)
    if done.returncode == 0:
        yield mount, True
        subprocess.run(["umount", str(mount)], check=True)
        return

    def no_space(*_args: object, **_kwargs: object) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(mount / "x"))

    monkeypatch.setattr(shutil, "copyfile", no_space)
    yield mount, False


def test_import_into_a_full_disk(full_disk, setenv, resnet18_params):
    home, _real = full_disk
    setenv("RESNET_HOME", str(home))
    result = invoke("weights", "import", str(resnet18_params), "--model", MODEL)
    line = one_line(result.stderr)
    assert result.exit_code == 2 and "No space left on device" in line, result.output
    assert line.startswith(f"Error: weights cache {home}: ")
    assert cache_leftovers(home) == []


def test_fetch_into_a_full_disk(full_disk, server, monkeypatch, params, setenv):
    home, real = full_disk
    if not real:
        pytest.skip("needs a real full file system (mounting a tmpfs was refused)")
    publish(server, monkeypatch, params)
    setenv("RESNET_HOME", str(home))
    result = invoke("weights", "fetch", MODEL)
    assert result.exit_code == 2 and "No space left on device" in one_line(result.stderr)
    assert cache_leftovers(home) == []
