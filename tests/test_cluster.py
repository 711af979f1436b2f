"""``predict --scheduler`` on a real Dask cluster: a scheduler and two one-thread workers
started on 127.0.0.1 for the session, all stopped at the end."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from daskcluster import Cluster, launch
from helpers import SQUEEZE, invoke, jsonl

pytestmark = pytest.mark.slow  # minutes: Dask processes start, workers are killed and restart
distributed = pytest.importorskip("distributed")
psutil = pytest.importorskip("psutil")

POISON = "POISON"  # an input whose decoding ends the worker process (test hook)
HOLD = "HOLD"  # an input whose decoding waits for <path>.release (test hook)


def worker_pids(cluster: Cluster) -> list[int]:
    """The worker processes (children of each `dask worker` nanny), not the nannies."""
    return [c.pid for w in cluster.workers for c in psutil.Process(w.pid).children()
            if "spawn_main" in " ".join(c.cmdline())]  # not the resource tracker


@pytest.fixture(scope="session")
def cluster_env(s3_env, tmp_path_factory) -> dict[str, str]:
    return {**os.environ, **s3_env,
            "RESNET_HOME": str(tmp_path_factory.mktemp("worker-home")),
            "RESNET_WORKER_THREADS": "1", "OMP_NUM_THREADS": "1",
            "RESNET_TEST_HOOKS": "1", "RESNET_TEST_CRASH_ON": POISON,
            "RESNET_TEST_HOLD_ON": HOLD, "RESNET_TIMEOUT": "5",
            # one retry after a worker dies, then the chunk is split (keeps the test short)
            "DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES": "1"}


@pytest.fixture(scope="session")
def dask_cluster(cluster_env, tmp_path_factory) -> Iterator[Cluster]:
    cluster = launch(tmp_path_factory.mktemp("cluster"), cluster_env, workers=2)
    yield cluster
    cluster.stop()


def spawn(cluster: Cluster, *args: str, stdin: int | None = None) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "resnet_cli", "predict", *SQUEEZE, "-f", "jsonl",
         "--scheduler", cluster.address, *args],
        env=cluster.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=stdin,
        # Ctrl-C must reach it even when the tests run as a background job (SIGINT ignored)
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))


def finish(proc: subprocess.Popen, first: bytes = b"") -> tuple[list[dict], str]:
    """The records after ``first`` (a line already read: what ``readline`` buffered beyond
    it is read from the same buffered stream) and stderr, once the process has ended."""
    rest = proc.stdout.read()
    err = proc.stderr.read().decode()
    proc.wait(timeout=60)
    return [json.loads(line) for line in (first + rest).splitlines()], err


def on_cluster(cluster: Cluster, *args: str) -> tuple[int, list[dict], str]:
    proc = spawn(cluster, *args)
    out, err = proc.communicate(timeout=600)
    return proc.returncode, [json.loads(line) for line in out.splitlines()], err.decode()


def local(*args: str) -> tuple[int, list[dict]]:
    result = invoke("predict", *SQUEEZE, "-f", "jsonl", *args)
    return result.exit_code, [json.loads(line) for line in result.stdout.splitlines()]


def assert_same(records: list[dict], expected: list[dict]) -> None:
    """Same inputs in the same order, same errors, same top-k, probabilities to 1e-6."""
    assert [r["path"] for r in records] == [r["path"] for r in expected]
    for got, want in zip(records, expected, strict=True):
        assert got.get("error") == want.get("error"), got["path"]
        got_p, want_p = got.get("predictions", []), want.get("predictions", [])
        assert [p["index"] for p in got_p] == [p["index"] for p in want_p], got["path"]
        for g, w in zip(got_p, want_p, strict=True):
            assert g["probability"] == pytest.approx(w["probability"], abs=1e-6)


@pytest.fixture(scope="module")
def photo_set(tmp_path_factory, photos) -> Path:
    """Real photos under several names and hostile files, enough for several chunks."""
    root = tmp_path_factory.mktemp("set")
    (root / "sub").mkdir()
    for i, name in enumerate(sorted(photos) * 2):
        shutil.copy(photos[name], root / ("sub" if i % 3 == 0 else ".") / f"{i:02d}_{name}.png")
    (root / "03_empty.jpg").write_bytes(b"")
    (root / "05_text.jpg").write_text("not a picture")
    data = photos["grace_hopper"].read_bytes()
    (root / "07_truncated.jpg").write_bytes(data[: len(data) // 3])
    (root / "09_dir.jpg").mkdir()
    os.mkfifo(root / "08_fifo.jpg")
    os.symlink("/dev/zero", root / "08_zero.jpg")
    return root


def test_records_equal_the_local_engines(dask_cluster, photo_set):
    code, records, err = on_cluster(dask_cluster, "--chunk-size", "3", str(photo_set),
                                    str(photo_set / "missing.jpg"))
    local_code, expected = local(str(photo_set), str(photo_set / "missing.jpg"))
    assert_same(records, expected)
    assert any("error" in r for r in records) and any("predictions" in r for r in records)
    assert code == local_code == 1, err


def test_a_worker_killed_mid_run_costs_nothing(dask_cluster, photo_set):
    proc = spawn(dask_cluster, "--chunk-size", "2", str(photo_set))
    first = proc.stdout.readline()  # the run is under way on both workers
    os.kill(worker_pids(dask_cluster)[0], signal.SIGKILL)
    records, err = finish(proc, first)
    assert_same(records, local(str(photo_set))[1])
    assert proc.returncode == 1, err  # 1: the broken files, each reported once


def test_an_input_that_kills_every_worker_is_isolated(dask_cluster, photo_set, tmp_path,
                                                      photos):
    for i, name in enumerate(("coffee", "chelsea", "rocket")):
        shutil.copy(photos[name], tmp_path / f"{i}_{name}.png")
    shutil.copy(photos["coffee"], tmp_path / f"1b_{POISON}.png")
    code, records, err = on_cluster(dask_cluster, "--chunk-size", "2", str(tmp_path))
    assert [Path(r["path"]).name for r in records] == [
        "0_coffee.png", "1_chelsea.png", f"1b_{POISON}.png", "2_rocket.png"]
    assert records[2]["error"] == (
        "crashed the worker process every time it was tried (2 times); skipped")
    assert all("predictions" in r for r in records if POISON not in r["path"])
    assert code == 1, err


@pytest.fixture
def held_set(photos, tmp_path) -> Iterator[Path]:
    """Four photos; the second one's decoding waits (test hook) until this test ends, so the
    run is surely under way, its first record written, whatever the machine's load."""
    names = ("coffee", "chelsea", "rocket", "grace_hopper")
    for i, name in enumerate(names):
        shutil.copy(photos[name], tmp_path / f"{i}_{HOLD if i == 1 else ''}{name}.png")
    yield tmp_path
    (tmp_path / f"1_{HOLD}chelsea.png.release").touch()  # the worker's thread goes on


def test_ctrl_c_cancels_the_runs_work_on_the_cluster(dask_cluster, held_set):
    proc = spawn(dask_cluster, "--chunk-size", "1", str(held_set))
    first = proc.stdout.readline()
    proc.send_signal(signal.SIGINT)
    records, err = finish(proc, first)
    assert proc.returncode == 130, err
    assert err.strip().splitlines() == ["Interrupted."], err
    assert [Path(r["path"]).name for r in records] == ["0_coffee.png"]
    with distributed.Client(dask_cluster.address, timeout=60) as client:
        deadline = time.monotonic() + 120
        while client.run_on_scheduler(lambda dask_scheduler: len(dask_scheduler.tasks)):
            assert time.monotonic() < deadline, "the run's tasks are still on the cluster"
            time.sleep(0.2)


def test_losing_the_scheduler_is_exit_2_with_records_kept(cluster_env, held_set,
                                                          tmp_path_factory):
    own = launch(tmp_path_factory.mktemp("own"), cluster_env, workers=1)
    try:
        proc = spawn(own, "--chunk-size", "1", str(held_set))
        first = proc.stdout.readline()
        own.scheduler.kill()
        records, err = finish(proc, first)
    finally:
        own.stop()
    assert_same(records, local(str(held_set / "0_coffee.png"))[1])
    assert proc.returncode == 2, err
    assert err.strip().splitlines() == [  # one line, no Dask log or traceback
        f"Error: lost the Dask scheduler at {own.address}; every record before this point "
        "was written"], err


def test_a_worker_with_another_version_is_one_clear_error(cluster_env, photo_set, tmp_path):
    fake = tmp_path / "site"
    info = fake / "resnet_cli-0.0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: resnet-cli\nVersion: 0.0.1\n")
    pythonpath = os.pathsep.join(filter(None, [str(fake), cluster_env.get("PYTHONPATH")]))
    own = launch(tmp_path / "c", cluster_env, workers=1,
                 worker_env={"PYTHONPATH": pythonpath})
    try:
        code, records, err = on_cluster(own, str(photo_set))
    finally:
        own.stop()
    assert code == 2 and records == []
    assert err.strip().splitlines() == [
        f"Error: Dask worker {err.split('Dask worker ')[1].split()[0]} has resnet-cli 0.0.1, "
        "this client 0.1.0: install the same version everywhere"]


def test_weights_a_worker_lacks_are_shipped_and_loaded_once(dask_cluster, photos, tmp_path,
                                                           resnet18_params):
    for name in ("coffee", "chelsea", "rocket"):
        shutil.copy(photos[name], tmp_path / f"{name}.png")
    args = ["--model", "resnet18_v1", "--weights", str(resnet18_params), str(tmp_path)]
    proc = subprocess.run(
        [sys.executable, "-m", "resnet_cli", "predict", "-f", "jsonl", "--chunk-size", "1",
         "--scheduler", dask_cluster.address, *args],
        env=dask_cluster.env, capture_output=True, text=True, timeout=600)
    records = [json.loads(line) for line in proc.stdout.splitlines()]
    expected = jsonl(invoke("predict", "-f", "jsonl", *args).stdout)
    assert_same(records, expected)
    assert proc.returncode == 0, proc.stderr
    with distributed.Client(dask_cluster.address, timeout=30) as client:
        held = client.run(lambda: list(__import__("resnet_cli.cluster").cluster._models))
    sha = hashlib.sha256(resnet18_params.read_bytes()).hexdigest()
    assert sha in [key for keys in held.values() for key in keys]


def test_workers_read_object_storage_and_http_as_the_local_run_does(dask_cluster, bucket, site,
                                                                     setenv):
    """Prefixes listed by the client, objects read by the workers: a missing key, a missing
    bucket, a refused and a slow HTTP request (timeout) are the same error records."""
    s3, _ = bucket
    http, _ = site
    inputs = [s3, s3 + "missing.jpg", "s3://no-such-bucket/x.jpg", http + "set/",
              http + "set/nope.jpg", http + "denied/x.jpg", http + "slow/x.jpg"]
    code, records, err = on_cluster(dask_cluster, "--chunk-size", "2", *inputs)
    setenv("RESNET_TIMEOUT", dask_cluster.env["RESNET_TIMEOUT"])
    local_code, expected = local(*inputs)
    assert_same(records, expected)
    errors = {r["path"]: r.get("error") for r in records}
    assert errors[s3 + "missing.jpg"] == errors[http + "set/nope.jpg"] == "no such object"
    assert errors[http + "denied/x.jpg"] == "access denied"
    assert errors[http + "slow/x.jpg"] == "timed out after 5 s"
    assert sum("predictions" in r for r in records) == 4  # two photos behind each prefix
    assert code == local_code == 1, err
    assert "test-secret-c0ffee" not in err + json.dumps(records)


def test_resize_mode_reaches_the_workers(dask_cluster, photos, tmp_path):
    """A 6x photo, decoded shrunk (fast) or at full size (exact): each mode's records equal
    the local run's, and the modes differ, so the workers did not ignore the option."""
    from PIL import Image

    with Image.open(photos["coffee"]) as img:
        img.convert("RGB").resize((img.width * 6, img.height * 6), Image.BICUBIC).save(
            tmp_path / "huge.jpg", quality=95)
    results = {}
    for mode in ("fast", "exact"):
        code, records, err = on_cluster(dask_cluster, "--resize", mode, str(tmp_path))
        assert code == 0, err
        assert_same(records, local("--resize", mode, str(tmp_path))[1])
        results[mode] = records[0]["predictions"][0]["probability"]
    assert results["fast"] != pytest.approx(results["exact"], abs=1e-6)
