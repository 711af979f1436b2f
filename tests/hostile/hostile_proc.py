"""Run the real ``resnet`` in a subprocess and measure what a user would see: records,
exit code, stderr, time and the process's own peak RSS (``wait4``)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SQUEEZE = ("-m", "squeezenet1.1")
DATA = Path(__file__).parents[1] / "data"


@dataclass(frozen=True)
class Run:
    """What one ``resnet`` process did."""

    returncode: int
    stdout: str
    stderr: str
    seconds: float
    peak_rss_mib: float

    def records(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.stdout.splitlines()]

    def assert_clean_stderr(self) -> None:
        assert "Traceback" not in self.stderr, self.stderr
        assert "Warning" not in self.stderr, self.stderr


def _child_setup() -> None:
    # A CI started as a background job passes SIGINT ignored; a user's terminal does not.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def start(*args: str, stdin: Any = subprocess.DEVNULL, stdout: Any = subprocess.PIPE,
          env: dict[str, str] | None = None, **popen: Any) -> subprocess.Popen:
    """``python -m resnet_cli ARGS`` as a child process, stdout and stderr piped."""
    return subprocess.Popen([sys.executable, "-m", "resnet_cli", *args], stdin=stdin,
                            stdout=stdout, stderr=subprocess.PIPE,
                            env={**os.environ, **(env or {})},
                            preexec_fn=popen.pop("preexec_fn", _child_setup), **popen)


def finish(proc: subprocess.Popen, timeout: float = 600) -> Run:
    """Wait for ``proc`` (killing it after ``timeout`` s); its own peak RSS from wait4."""
    began = time.monotonic()
    streams = [s for s in (proc.stdout, proc.stderr) if s is not None]
    chunks: dict[Any, bytes] = {}
    readers = [threading.Thread(target=lambda s=s: chunks.__setitem__(s, s.read()))
               for s in streams]
    for reader in readers:
        reader.start()
    killer = threading.Timer(timeout, proc.kill)
    killer.start()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    killer.cancel()
    for reader in readers:
        reader.join()
    return Run(proc.returncode, chunks.get(proc.stdout, b"").decode(errors="replace"),
               chunks.get(proc.stderr, b"").decode(errors="replace"),
               time.monotonic() - began, usage.ru_maxrss / 1024)


def resnet(*args: str, timeout: float = 600, **kwargs: Any) -> Run:
    """Run ``resnet ARGS`` to the end."""
    return finish(start(*args, **kwargs), timeout)
