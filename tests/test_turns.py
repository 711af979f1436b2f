"""Fair timing: who goes when (turns.order), waiting for another process's spinning threads
(turns.quiet, on real processes) and rounds sized on warm passes (bench.model_only)."""

from __future__ import annotations

import itertools
import select
import subprocess
import sys

import numpy as np
import pytest

import resnet_cli
from resnet_cli import bench, turns

# A process whose second thread spins (as ONNX Runtime's pool threads do after a run)
# until the process has used SPIN_CPU seconds of CPU, says so, and stops.
SPIN_CPU = 0.3
SPINNER = f"""
import sys, threading, time
def spin():
    while time.process_time() < {SPIN_CPU}:
        pass
    print("stopped", flush=True)
threading.Thread(target=spin).start()
print("spinning", flush=True)
sys.stdin.read()
"""
FOREVER = "import threading\nthreading.Thread(target=lambda: [0 for _ in iter(int, 1)]).start()"


@pytest.fixture
def spinner():
    """Start a spinning process; the test ends it."""
    started = []

    def start(code: str = SPINNER) -> subprocess.Popen:
        process = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE,
                                   stdout=subprocess.PIPE, text=True)
        started.append(process)
        return process

    yield start
    for process in started:
        process.kill()
        process.wait()


def test_order_changes_who_leads_and_who_follows_whom():
    runs = ["a", "b", "c"]
    assert sorted(tuple(turns.order(runs, r)) for r in range(6)) == sorted(
        itertools.permutations(runs))
    four = [turns.order("abcd", r) for r in range(8)]
    assert sorted(order[0] for order in four) == sorted("abcd" * 2)  # each leads twice
    for run in "abcd":  # and follows more than one other run
        assert len({order[order.index(run) - 1] for order in four if order[0] != run}) >= 2


def test_quiet_waits_until_a_spinning_thread_has_stopped(spinner):
    process = spinner()
    assert process.stdout.readline() == "spinning\n"
    turns.quiet([process.pid], limit=600)
    # Its last act before leaving the CPU was to say so: the line is already there.
    assert select.select([process.stdout], [], [], 0)[0]
    assert process.stdout.readline() == "stopped\n"
    assert turns.running([process.pid]) == 0  # the main thread waits on stdin


def test_quiet_gives_up_after_its_limit_and_ignores_a_process_gone(spinner):
    process = spinner(FOREVER + "\nprint('spinning', flush=True)")
    assert process.stdout.readline() == "spinning\n"
    assert turns.running([process.pid]) >= 1
    assert turns.quiet([process.pid], limit=0.05) >= 0.05
    process.kill()
    process.wait()
    assert turns.running([process.pid]) is None
    assert turns.quiet([process.pid]) < turns.LIMIT  # returns at once


def test_model_only_sizes_its_rounds_on_warm_passes():
    """A first pass 20x slower than the rest (OpenVINO's int8 SqueezeNet at batch 1: 21 ms,
    then 1.8) must not shrink a round to a thirty-second of its length: the clock is
    scripted, the passes real."""
    real = resnet_cli.load("squeezenet1.1")
    passes = []

    class Counted:
        def logits(self, batch: np.ndarray) -> np.ndarray:
            passes.append(len(batch))
            return real.logits(batch)

    def clock() -> float:  # 1/32 s for the first pass, 1/1024 s for each one after
        return min(len(passes), 1) / 32 + max(len(passes) - 1, 0) / 1024

    run = bench.model_only(Counted(), bench.batch_of(real, 1), seconds=1 / 8, clock=clock)
    before = len(passes)
    assert before == bench.WARM_UP + 32  # warm-up, then a quarter round of passes sizes it
    assert run() == 128 and len(passes) - before == 128  # 1/8 s of 1/1024 s passes
