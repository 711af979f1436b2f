"""Taking turns fairly when runs are timed one after another (``bench.paired``, auto's
measuring processes, ``benchmarks/compare.py``). Standard library only: compare.py imports
it from an environment without the project's dependencies.

Two things made a run's figure depend on which run went before it:

- The order. Rotating one order each round keeps every run behind the same neighbour in
  every round but one. :func:`order` rotates it and reverses every other round instead, so
  who leads and who follows whom both change (three runs: all six orders in six rounds).
- Threads still busy after a run returned. ONNX Runtime's pool threads spin on for about
  25 ms after ``run`` returns (SqueezeNet int8 at batch 1 and ResNet-18 at batch 32 alike,
  2-core Sapphire Rapids; OpenVINO's threads: 1-3 ms), taking a core from whichever
  process is timed next, as they never would in a process that runs one engine alone.
  :func:`quiet` waits for them to stop.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")

POLL = 0.001  # seconds between two looks at the processes' threads
LIMIT = 1.0  # seconds at most to wait (a process busy for good must not stall a benchmark)


def order(runs: Sequence[T], round_: int) -> list[T]:
    """The order of ``runs`` in round ``round_``: rotated by ``round_ // 2``, reversed
    in odd rounds."""
    shift = (round_ // 2) % len(runs)
    rotated = list(runs[shift:]) + list(runs[:shift])
    return rotated[::-1] if round_ % 2 else rotated


def running(pids: Sequence[int]) -> int | None:
    """How many threads of ``pids`` are running or waiting for a core (state R: a spinning
    thread stays R even while another process has its core), or None where /proc does not
    say (not Linux, or a process gone)."""
    count = 0
    try:
        for pid in pids:
            for task in Path(f"/proc/{pid}/task").iterdir():
                count += (task / "stat").read_text().rpartition(")")[2].split()[0] == "R"
    except (OSError, IndexError):
        return None
    return count


def quiet(pids: Sequence[int], limit: float = LIMIT) -> float:
    """Wait until no thread of ``pids`` is running (or ``limit`` seconds); the seconds
    waited. Without /proc it returns at once."""
    start = time.perf_counter()
    while running(pids) and time.perf_counter() - start < limit:
        time.sleep(POLL)
    return time.perf_counter() - start
