"""Ctrl-C and SIGTERM end a run within 2 s whatever the decoders are doing; records
already written stay whole and a ``-f json`` array is closed; no traceback at start-up."""

from __future__ import annotations

import json
import signal
import threading
import time

import numpy as np
import pytest
from hostile_proc import DATA, SQUEEZE, finish, start
from PIL import Image

COFFEE = str(DATA / "coffee.png")


@pytest.fixture(scope="module")
def slow_image(tmp_path_factory):
    """A 16-bit 6000x6000 PNG: seconds of decoding per copy, well inside the budget."""
    side = 6000
    ramp = (np.arange(side, dtype=np.uint32) * 11 % 65536).astype(np.uint16)
    path = tmp_path_factory.mktemp("slow") / "slow.png"
    Image.fromarray(np.broadcast_to(ramp, (side, side)).copy()).save(path, compress_level=1)
    return str(path)


@pytest.mark.parametrize(("signum", "code", "message"), [
    (signal.SIGTERM, 143, "Terminated."),
    (signal.SIGINT, 130, "Interrupted."),
])
def test_signal_mid_run_is_prompt_and_closes_the_json_array(slow_image, signum, code,
                                                            message):
    proc = start("predict", *SQUEEZE, "-f", "json", "-b", "1", "--workers", "2", COFFEE,
                 *[slow_image] * 20)
    first = proc.stdout.readline() + proc.stdout.readline()  # "[" and the first record
    assert b"espresso" in first
    sent = time.monotonic()
    proc.send_signal(signum)
    run = finish(proc, timeout=30)
    assert time.monotonic() - sent < 2.0
    assert run.returncode == code
    assert run.stderr == message + "\n"
    records = json.loads(first.decode() + run.stdout)  # a closed, valid array
    assert 1 <= len(records) < 21
    assert records[0]["predictions"][0]["label"] == "espresso"


def wait_for_handlers(pid: int, timeout: float = 300) -> None:
    """Until the process catches SIGTERM (Linux: SigCgt): its own code is running.

    Before that the interpreter is still starting: Ctrl-C there is Python's business.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with open(f"/proc/{pid}/status") as status:
            caught = next(line for line in status if line.startswith("SigCgt:"))
        if int(caught.split()[1], 16) & (1 << (signal.SIGTERM - 1)):
            return
        time.sleep(0.005)
    raise AssertionError("the process never installed its signal handlers")


@pytest.mark.parametrize("delay", [0.0, 0.2, 0.6, 1.2])
def test_ctrl_c_during_start_up_prints_no_traceback(delay):
    proc = start("predict", *SQUEEZE, "-f", "json", COFFEE)
    wait_for_handlers(proc.pid)
    time.sleep(delay)  # importing click, MXNet, loading the model...
    proc.send_signal(signal.SIGINT)
    run = finish(proc, timeout=30)
    if run.returncode == 0:  # it finished first: nothing to interrupt
        return
    assert run.returncode == 130
    assert run.stderr == "Interrupted.\n"
    assert run.stdout in ("", "[]\n") or json.loads(run.stdout)


def test_an_error_raised_while_unwinding_an_interrupt_is_still_the_interrupt():
    """Ctrl-C raised inside a library's half-done state change (CI saw Dask's
    ``as_completed`` under ``threading.Condition.wait``) makes its cleanup fail with an error
    of its own: the run still ends as interrupted, in one line, not a traceback."""
    import click
    from click.testing import CliRunner

    from resnet_cli.cli import ResnetGroup

    @click.group(cls=ResnetGroup)
    def group() -> None:
        pass

    @group.command()
    def wait() -> None:
        lock = threading.Lock()
        lock.acquire()
        try:
            lock.release()  # as Condition.wait lets its lock go ...
            raise KeyboardInterrupt  # ... the signal lands before it takes it back
        finally:
            lock.release()  # the cleanup: RuntimeError, release unlocked lock

    result = CliRunner().invoke(group, ["wait"])
    assert result.exit_code == 130, result.exception
    assert result.stderr.strip().splitlines() == ["Interrupted."]
