"""Fetching, verifying, caching and importing weights, against a real HTTP server on
127.0.0.1 (the internet is the one thing replaced: RESNET_MIRROR points at the server, and
the published checksums are swapped for those of the files the server holds)."""

from __future__ import annotations

import hashlib
import io
import json
import os
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
from helpers import Server, invoke, use_sources

from resnet_cli import registry
from resnet_cli.network import resnet18
from resnet_cli.preprocess import Preprocessing
from resnet_cli.runtime import mxnet

mx = mxnet()


@pytest.fixture(scope="module")
def zoo_params(resnet18_params) -> bytes:
    """A zoo-layout ResNet-18 .params (random weights), as the model zoo stores it."""
    return resnet18_params.read_bytes()


def publish_zoo(server: Server, monkeypatch, params: bytes, behaviour: str = "ok",
                published: bytes | None = None) -> str:
    """Serve a model-zoo zip for resnet18_v1 and make its SHA-1 the published one."""
    sha1 = hashlib.sha1(published if published is not None else params).hexdigest()
    zoo = registry.gluon_zoo_file("resnet18_v1", sha1)
    use_sources(monkeypatch, "resnet18_v1", zoo, *registry.get("resnet18_v1").sources[1:])
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as archive:
        archive.writestr(zoo.filename.removesuffix(".zip") + ".params", params)
    server.routes[zoo.filename] = (behaviour, buf.getvalue())
    return zoo.filename


def leftovers(cache: Path) -> list[str]:
    return sorted(p.name for p in cache.glob(".*.part")) if cache.exists() else []


def test_good_fetch_caches_verified_file_and_record(server, monkeypatch, zoo_params, cache):
    name = publish_zoo(server, monkeypatch, zoo_params)
    result = invoke("weights", "fetch", "resnet18_v1")
    assert result.exit_code == 0, result.output
    path = cache / "resnet18_v1.params"
    assert result.stdout.strip() == str(path)
    assert path.read_bytes() == zoo_params
    record = json.loads((cache / "resnet18_v1.json").read_text())
    assert record["sha256"] == hashlib.sha256(zoo_params).hexdigest()
    assert record["source"] == server.url + name and record["kind"] == "gluon-zoo"
    assert server.hits[name] == 1
    assert invoke("weights", "fetch", "resnet18_v1").exit_code == 0
    assert server.hits[name] == 1  # cached and valid: no second download
    assert invoke("weights", "verify", "resnet18_v1").stdout == "resnet18_v1: OK\n"
    assert invoke("weights", "path", "resnet18_v1").stdout.strip() == str(path)


def test_predict_fetches_on_first_use_and_matches_the_zoo_network(
        server, monkeypatch, zoo_params, photos, cache, tmp_path):
    name = publish_zoo(server, monkeypatch, zoo_params)
    result = invoke("predict", "-f", "json", "-k", "1000", str(photos["chelsea"]))
    assert result.exit_code == 0, result.output
    assert server.hits[name] == 1
    probs = {p["index"]: p["probability"] for p in json.loads(result.stdout)[0]["predictions"]}
    (tmp_path / "z.params").write_bytes(zoo_params)
    zoo = mx.gluon.model_zoo.vision.resnet18_v1()
    zoo.load_parameters(str(tmp_path / "z.params"))
    logits = zoo(mx.nd.array(Preprocessing()(photos["chelsea"])[None])).asnumpy()[0]
    expected = np.exp(logits - logits.max()) / np.exp(logits - logits.max()).sum()
    assert max(abs(probs[i] - expected[i]) for i in range(1000)) < 1e-6


def test_wrong_checksum_is_refused_and_nothing_is_cached(server, monkeypatch, zoo_params,
                                                          cache):
    name = publish_zoo(server, monkeypatch, zoo_params, published=b"other bytes")
    result = invoke("weights", "fetch", "resnet18_v1")
    assert result.exit_code == 2
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("Error: cannot fetch weights for resnet18_v1")
    assert f"{server.url}{name}: SHA-1" in line and "is not the published" in line
    assert "resnet18-f37072fd.pth: HTTP 404" in line  # the fallback was tried too
    assert not (cache / "resnet18_v1.params").exists()
    assert leftovers(cache) == []


def test_truncated_body_is_an_error(server, monkeypatch, zoo_params, cache):
    publish_zoo(server, monkeypatch, zoo_params, behaviour="truncate")
    result = invoke("weights", "fetch", "resnet18_v1")
    assert result.exit_code == 2
    assert "truncated" in result.stderr
    assert not (cache / "resnet18_v1.params").exists() and leftovers(cache) == []


@pytest.mark.parametrize("code", [404, 500])
def test_http_errors_are_reported(server, monkeypatch, zoo_params, cache, code):
    name = publish_zoo(server, monkeypatch, zoo_params)
    server.routes[name] = ("status", code)
    result = invoke("weights", "fetch", "resnet18_v1")
    assert result.exit_code == 2
    assert f"{name}: HTTP {code}" in result.stderr
    assert "Traceback" not in result.output


def test_stalled_server_times_out_with_a_clear_error(server, monkeypatch, setenv, zoo_params,
                                                     cache):
    name = publish_zoo(server, monkeypatch, zoo_params)
    server.routes[name] = ("stall", 8)
    setenv("RESNET_TIMEOUT", "1")
    start = time.monotonic()
    result = invoke("weights", "fetch", "resnet18_v1")
    assert time.monotonic() - start < 6
    assert result.exit_code == 2
    assert "timed out after 1 s" in result.stderr
    assert leftovers(cache) == []


def test_no_network_predict_names_cache_import_and_bundled_model(setenv, photos, cache):
    setenv("RESNET_MIRROR", "http://127.0.0.1:9/")  # discard port: refused
    result = invoke("predict", str(photos["chelsea"]))
    assert result.exit_code == 2
    (line,) = result.stderr.strip().splitlines()
    assert str(cache / "resnet18_v1.params") in line
    assert "resnet weights import" in line and "--model squeezenet1.1" in line
    assert "cannot connect" in line


def test_two_concurrent_fetches_download_once(server, monkeypatch, zoo_params, cache):
    name = publish_zoo(server, monkeypatch, zoo_params, behaviour="slow")
    sha1 = hashlib.sha1(zoo_params).hexdigest()
    # Child processes see the same checksum through a tiny sitecustomize-free shim.
    code = ("import dataclasses, sys; from resnet_cli import registry; "
            "spec = registry.MODELS['resnet18_v1']; "
            "registry.MODELS['resnet18_v1'] = dataclasses.replace(spec, sources=("
            f"registry.gluon_zoo_file('resnet18_v1', '{sha1}'),)); "
            "from resnet_cli.cli import main; sys.argv = ['resnet', 'weights', 'fetch', "
            "'resnet18_v1']; main()")
    procs = [subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, env=dict(os.environ)) for _ in range(2)]
    outputs = [p.communicate(timeout=60) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs
    assert server.hits[name] == 1
    assert (cache / "resnet18_v1.params").read_bytes() == zoo_params
    assert leftovers(cache) == []


def test_corrupt_cached_file_is_reported_and_fetched_again(server, monkeypatch, zoo_params,
                                                          photos, cache):
    name = publish_zoo(server, monkeypatch, zoo_params)
    assert invoke("weights", "fetch", "resnet18_v1").exit_code == 0
    path = cache / "resnet18_v1.params"
    data = bytearray(path.read_bytes())
    data[-100] ^= 0xFF
    path.write_bytes(bytes(data))
    failed = invoke("weights", "verify")
    assert failed.exit_code == 1 and "resnet18_v1: FAILED: SHA-256" in failed.stdout
    result = invoke("predict", "-f", "jsonl", str(photos["coffee"]))
    assert result.exit_code == 0
    assert "does not match the recorded" in result.stderr and "fetching again" in result.stderr
    assert server.hits[name] == 2
    assert path.read_bytes() == zoo_params


def test_weights_list_shows_sources_and_cache_state(server, monkeypatch, zoo_params, cache):
    publish_zoo(server, monkeypatch, zoo_params)
    invoke("weights", "fetch", "resnet18_v1")
    rows = {r["model"]: r for r in json.loads(invoke("weights", "list", "-f", "json").stdout)}
    r18 = rows["resnet18_v1"]
    assert r18["cached"] and r18["size"] == len(zoo_params)
    assert r18["source"] == "gluon-zoo, torchvision" and "sha256-prefix:f37072fd" in r18["checksum"]
    assert rows["squeezenet1.1"]["source"] == "bundled"
    assert not rows["resnet34_v1"]["cached"]
    assert rows["resnet34_v1"]["path"] == str(cache / "resnet34_v1.params")


def test_zoo_legacy_prefixed_params_load_into_our_resnet(resnet18_params, tmp_path):
    zoo = mx.gluon.model_zoo.vision.resnet18_v1()
    zoo.load_parameters(str(resnet18_params))
    # The zoo's own files predate structural names: parameter names minus the prefix.
    zoo.collect_params().save(str(tmp_path / "legacy.params"), strip_prefix=zoo.prefix)
    ours = resnet18()
    ours.load_parameters(str(tmp_path / "legacy.params"))
    x = mx.nd.random.uniform(shape=(1, 3, 224, 224))
    assert np.abs(ours(x).asnumpy() - zoo(x).asnumpy()).max() <= 1e-5


def test_import_gluon_params_and_path(zoo_params, tmp_path, cache):
    missing = invoke("weights", "path", "resnet18_v1")
    assert missing.exit_code == 1 and missing.stdout.strip() == str(cache / "resnet18_v1.params")
    source = tmp_path / "mine.params"
    source.write_bytes(zoo_params)
    result = invoke("weights", "import", str(source), "--model", "resnet18")
    assert result.exit_code == 0, result.output
    assert (cache / "resnet18_v1.params").read_bytes() == zoo_params
    record = json.loads((cache / "resnet18_v1.json").read_text())
    assert record["kind"] == "import-params" and record["source"] == str(source.resolve())
    assert invoke("weights", "path", "resnet18_v1").exit_code == 0


def test_import_refuses_weights_of_another_model(zoo_params, tmp_path, cache):
    source = tmp_path / "r18.params"
    source.write_bytes(zoo_params)
    result = invoke("weights", "import", str(source), "--model", "resnet34_v1")
    assert result.exit_code == 2
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith(f"Error: {source} does not fit resnet34_v1: ")
    assert not (cache / "resnet34_v1.params").exists()
    assert sorted(p.name for p in cache.iterdir() if not p.name.endswith(".lock")) == []
