"""What hashing the cached weights in full costs at each start-up (vs the whole load).

Run:  .venv/bin/python benchmarks/verify_cost.py [--model resnet18_v1] [--repeats 7]

``resnet predict`` now checks the cached ``.params`` against its record's SHA-256 on every
load, where it used to trust a file whose size and mtime were unchanged.  In one process,
on random weights of the model's real size in a scratch cache, each round times side by
side: the old stamp check, the full hash, and the whole ``resnet_cli.load`` (MXNet build,
weights, optimisation) that the check precedes.  Medians of the rounds, and ratios.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="resnet18_v1")
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as home:
        os.environ["RESNET_HOME"] = home
        import resnet_cli
        from resnet_cli import registry, settings
        from resnet_cli.runtime import mxnet
        from resnet_cli.weights import cache, fetch

        settings.reload()
        mx = mxnet()
        net = registry.get(args.model).build(classes=1000)
        net.initialize(mx.init.Xavier())
        net(mx.nd.zeros((1, 3, 224, 224)))
        source = Path(home) / "random.params"
        net.save_parameters(str(source))
        path = fetch.import_file(source, args.model)
        steps = {"stamp check": lambda: cache.check(args.model),
                 "full SHA-256": lambda: cache.check(args.model, full=True),
                 "load": lambda: resnet_cli.load(args.model)}
        wall: dict[str, list[float]] = {label: [] for label in steps}
        cpu: dict[str, list[float]] = {label: [] for label in steps}
        for _ in range(args.repeats):
            for label, step in steps.items():
                start, start_cpu = time.perf_counter(), time.process_time()
                step()
                wall[label].append(time.perf_counter() - start)
                cpu[label].append(time.process_time() - start_cpu)
        size = path.stat().st_size
        print(f"{args.model}: {size / 1e6:.1f} MB of weights, {args.repeats} rounds, medians")
        print(f"  {'':<13} {'wall ms':>9} {'CPU ms':>9}")
        for label in steps:
            print(f"  {label:<13} {1000 * statistics.median(wall[label]):9.1f} "
                  f"{1000 * statistics.median(cpu[label]):9.1f}")
        for kind, times in (("wall", wall), ("CPU", cpu)):
            full, load = (statistics.median(times[k]) for k in ("full SHA-256", "load"))
            print(f"  {kind}: hash {size / full / 1e6:.0f} MB/s; full hash / load "
                  f"(which includes it) {full / load:.3f}")


if __name__ == "__main__":
    main()
