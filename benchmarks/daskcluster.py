"""A real Dask cluster on 127.0.0.1 for the cluster tests and benchmarks/cluster.py:
`dask scheduler` and `dask worker` processes, exactly as a user starts them by hand."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

BIN = Path(sys.executable).parent
BENCHMARKS = Path(__file__).resolve().parent


@dataclass
class Cluster:
    address: str
    env: dict[str, str]
    scheduler: subprocess.Popen
    workers: list[subprocess.Popen]

    def stop(self) -> None:
        stop([*self.workers, self.scheduler])


def start(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    with open(log, "ab") as out:
        return subprocess.Popen([str(BIN / "dask"), *args], env=env, stdout=out,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)


def stop(procs: list[subprocess.Popen]) -> None:
    """Terminate, wait; whatever is left after 15 s (a worker process) is killed."""
    import psutil

    for proc in procs:
        if proc.poll() is None:
            proc.terminate()
    for proc in procs:
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            for child in psutil.Process(proc.pid).children(recursive=True):
                child.kill()
            proc.kill()
            proc.wait()


def launch(root: Path, env: dict[str, str], workers: int, nthreads: int = 1,
           worker_env: dict[str, str] | None = None) -> Cluster:
    """`dask scheduler` and ``workers`` x `dask worker --nthreads N`, ready to use: returns
    once every worker has joined (minutes allowed: a loaded machine starts Python slowly)."""
    import distributed

    root.mkdir(parents=True, exist_ok=True)
    file = root / "scheduler.json"
    scheduler = start(["scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
                       "--scheduler-file", str(file)], env, root / "scheduler.log")
    procs = [scheduler]
    try:
        deadline = time.monotonic() + 300
        while not (file.exists() and file.stat().st_size):
            if scheduler.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"dask scheduler did not start: see {root}/scheduler.log")
            time.sleep(0.1)
        address = json.loads(file.read_text())["address"]
        for i in range(workers):
            procs.append(start(["worker", address, "--nthreads", str(nthreads),
                                "--host", "127.0.0.1", "--no-dashboard", "--name", f"w{i}"],
                               {**env, **(worker_env or {})}, root / f"worker{i}.log"))
        with distributed.Client(address, timeout=120) as client:
            client.wait_for_workers(workers, timeout=300)
    except BaseException:
        stop(procs)
        raise
    return Cluster(address, env, scheduler, procs[1:])


def precomputed(sources: list, ref: object, _blob: object, _batch: int, topk: int,
                _resize: object = None) -> list:
    """On a worker, instead of ``cluster.run_chunk`` (benchmarks/cluster.py measures the
    client with it): a record with five predictions, as a real one has, for every path."""
    from resnet_cli.records import Prediction, Record

    predictions = [Prediction(rank, rank * 7, f"n0000000{rank}", f"label {rank}", 0.9 / rank)
                   for rank in range(1, topk + 1)]
    return [Record(source.path, ref.name, predictions) for source in sources]
