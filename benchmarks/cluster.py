"""The cluster path's overhead, and what one client can feed: ``--scheduler`` measured.

Run:  .venv/bin/python benchmarks/cluster.py [--count 1000] [--rounds 3] [--images DIR]

1. The same images classified by ``resnet predict`` on this machine and by ``resnet predict
   --scheduler`` on a local cluster of one worker with all this machine's cores (`dask
   scheduler` + `dask worker --nthreads CORES`, started here), whole commands timed, the
   two alternating ``--rounds`` times: medians and the cluster/local ratio (target >= 0.85).
2. The client alone: ``cluster.Run`` over made-up paths with a task that returns
   precomputed records on the worker (nothing decoded, no model), records written as JSON
   lines to /dev/null, in a child process: records/s by wall time and by the client's own
   CPU time (target >= 5,000/s), and the child's peak RSS for 10,000 and 100,000 inputs
   (target: growth under 10%).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from daskcluster import BENCHMARKS, launch, precomputed
from devdata import cpu_model, image_folder

MODEL = "squeezenet1.1"


def load() -> str:
    return "load " + " ".join(f"{x:.1f}" for x in os.getloadavg())


def predict(files: list[str], scheduler: str | None, out: Path) -> float:
    """Seconds for a whole ``resnet predict -`` over ``files`` (records into ``out``)."""
    extra = ["--scheduler", scheduler] if scheduler else []
    start = time.perf_counter()
    with open(out, "wb") as sink:
        subprocess.run([sys.executable, "-m", "resnet_cli", "predict", "-m", MODEL, "-f",
                        "jsonl", "-q", *extra, "-"], input="".join(f + "\n" for f in files)
                       .encode(), stdout=sink, check=True)
    return time.perf_counter() - start


def top1(path: Path) -> list[str | None]:
    records = [json.loads(line) for line in path.read_text().splitlines()]
    return [r["predictions"][0]["label"] if "predictions" in r else None for r in records]


def local_vs_cluster(files: list[str], address: str, rounds: int) -> None:
    """Whole commands over all ``files`` and over one file, alternating; the one-file run
    is the command's fixed cost (start-up, model load or connection), which the rate
    without start-up, ``(n - 1) / (t_n - t_1)``, leaves out."""
    with tempfile.TemporaryDirectory() as tmp:
        outs = {"local": Path(tmp, "local.jsonl"), "cluster": Path(tmp, "cluster.jsonl")}
        predict(files[:16], address, outs["cluster"])  # the worker loads the model once
        times: dict[str, list[float]] = {"local": [], "cluster": []}
        fixed: dict[str, list[float]] = {"local": [], "cluster": []}
        for i in range(rounds):
            order = ("local", "cluster") if i % 2 == 0 else ("cluster", "local")
            for name in order:
                where = address if name == "cluster" else None
                fixed[name].append(predict(files[:1], where, outs[name]))
                times[name].append(predict(files, where, outs[name]))
        same = top1(outs["local"]) == top1(outs["cluster"])
    n = len(files)
    whole = {name: [n / t for t in ts] for name, ts in times.items()}
    steady = {name: [(n - 1) / (t - f) for t, f in zip(ts, fixed[name], strict=True)]
              for name, ts in times.items()}
    print(f"\n1. {n} images, {MODEL}, `resnet predict -` ({load()}); top-1 identical: {same}")
    for label, rates in (("whole command", whole), ("without start-up", steady)):
        for name, rs in rates.items():
            print(f"   {label:<17} {name:<8} images/s: median {statistics.median(rs):6.1f}  "
                  f"runs {[round(r, 1) for r in rs]}")
        ratios = [c / loc for c, loc in zip(rates["cluster"], rates["local"], strict=True)]
        print(f"   {label:<17} cluster/local: median {statistics.median(ratios):.3f}  per "
              f"round {[round(r, 3) for r in ratios]}  (target >= 0.85)")
    for name, fs in fixed.items():
        print(f"   one-image command, {name:<8}: median {statistics.median(fs):.2f} s")


def client_child(address: str, count: int, chunk_size: int) -> None:
    """In the child: the client's loop over ``count`` inputs; its figures as JSON."""
    from resnet_cli import cluster
    from resnet_cli.output import make_writer
    from resnet_cli.records import Source

    ref, blob = cluster.model_files(MODEL, None, None, lambda _m: None)
    client = cluster.connect(address)
    cluster.check_workers(client)
    run = cluster.Run(client, ref, blob, task=precomputed)
    sources = (Source(f"/photos/{i:07d}.jpg") for i in range(count))
    with open(os.devnull, "w") as devnull:
        writer = make_writer("jsonl", devnull, 5, terminal=False)
        wall, cpu = time.perf_counter(), time.process_time()
        written = sum(1 for record in run.classify(sources, 16, 5, chunk_size)
                      if writer.write(record) is None)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    client.close()
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"records": written, "wall": wall, "cpu": cpu, "rss_mib": rss}))


def client_cost(address: str, counts: list[int], chunk_size: int) -> None:
    print(f"\n2. the client alone: workers return precomputed records, chunks of "
          f"{chunk_size}, JSON lines to /dev/null ({load()})")
    peaks = []
    for count in counts:
        out = subprocess.run([sys.executable, __file__, "--client-child", address,
                              "--count", str(count), "--chunk-size", str(chunk_size)],
                             stdout=subprocess.PIPE, text=True, check=True).stdout
        figures = json.loads(out.strip().splitlines()[-1])
        assert figures["records"] == count, figures
        peaks.append(figures["rss_mib"])
        print(f"   {count:>7} inputs: {count / figures['wall']:8.0f} records/s wall, "
              f"{count / figures['cpu']:8.0f} records/s of client CPU "
              f"({1e6 * figures['cpu'] / count:.0f} us/record), peak RSS "
              f"{figures['rss_mib']:.1f} MiB")
    print(f"   peak RSS growth {counts[0]} -> {counts[-1]} inputs: "
          f"{100 * (peaks[-1] / peaks[0] - 1):+.1f}%  (target < 10%); "
          f"target >= 5,000 records/s")


def main() -> None:
    cores = len(os.sched_getaffinity(0))
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=1000, help="images for part 1")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--images", type=Path, default=None,
                        help="[default: the ImageNet sample, else images made from tests/data]")
    parser.add_argument("--client-counts", default="10000,100000")
    parser.add_argument("--chunk-size", type=int, default=64)
    parser.add_argument("--skip-images", action="store_true", help="part 2 only")
    parser.add_argument("--client-child", metavar="ADDRESS", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.client_child:
        client_child(args.client_child, args.count, args.chunk_size)
        return
    print(f"CPU: {cpu_model()}, {cores} cores available; {load()}")
    with tempfile.TemporaryDirectory(prefix="resnet-bench-cluster-") as tmp:
        # PYTHONPATH: the scheduler (which unpickles task graphs) and the workers import
        # ``daskcluster.precomputed`` by name, as they import ``cluster.run_chunk``
        cluster = launch(Path(tmp), {**os.environ, "PYTHONPATH": str(BENCHMARKS)},
                         workers=1, nthreads=cores)
        try:
            if not args.skip_images:
                from resnet_cli import bench

                files = bench.image_paths(image_folder(args.images, args.count))
                local_vs_cluster(files[:args.count], cluster.address, args.rounds)
            client_cost(cluster.address,
                        [int(c) for c in args.client_counts.split(",")], args.chunk_size)
        finally:
            cluster.stop()
    print(f"\n{load()}")


if __name__ == "__main__":
    main()
