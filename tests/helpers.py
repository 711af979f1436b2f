"""Helpers shared by the tests: running the CLI in-process, a real HTTP server on
127.0.0.1, publishing checksums for the files it serves, and expected classes."""

from __future__ import annotations

import contextlib
import dataclasses
import http.server
import json
import signal
import subprocess
import sys
import time
from collections import Counter
from typing import Any

import pytest
from click.testing import CliRunner, Result

from resnet_cli import registry
from resnet_cli.cli import cli
from resnet_cli.registry import WeightFile

SQUEEZE = ("--model", "squeezenet1.1")
CAT_CLASSES = {"tabby", "tiger cat", "Egyptian cat", "Persian cat", "Siamese cat"}
COFFEE_CLASSES = {"espresso", "cup", "coffee mug"}


def invoke(*args: str, input: bytes | str | None = None, **kwargs: Any) -> Result:
    """``resnet ARGS`` in this process, stdout and stderr kept apart."""
    return CliRunner().invoke(cli, list(args), input=input, **kwargs)


def default_sigint() -> None:
    """A shell's background jobs (``cmd &``, so a CI launched that way) inherit SIGINT
    ignored; Ctrl-C at a terminal reaches a foreground process, which this test plays."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def spawn(*args: str, stdin: Any = None) -> subprocess.Popen:
    """``resnet predict --model squeezenet1.1 ARGS`` as a real process, pipes kept."""
    return subprocess.Popen([sys.executable, "-m", "resnet_cli", "predict", *SQUEEZE, *args],
                            stdin=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            preexec_fn=default_sigint)


def jsonl(output: str) -> list[dict]:
    return [json.loads(line) for line in output.splitlines()]


def use_sources(monkeypatch: pytest.MonkeyPatch, model: str, *sources: WeightFile) -> None:
    """Make ``sources`` the model's published downloads for this test (the test's server
    holds them, so their checksums are those of its files)."""
    spec = registry.get(model)
    monkeypatch.setitem(registry.MODELS, spec.name, dataclasses.replace(spec, sources=sources))


class Server(http.server.ThreadingHTTPServer):
    """Serves ``routes[path] = (behaviour, payload)`` and counts requests per path."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.routes: dict[str, tuple[str, object]] = {}
        self.hits: Counter[str] = Counter()
        self.sent: Counter[str] = Counter()  # body bytes written by the hostile behaviours

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/"

    def handle_error(self, request: object, client_address: object) -> None:
        """Quiet: clients hanging up mid-body is what several tests provoke, and the
        default report would land in the stderr of the command under test."""


class Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        server: Server = self.server  # type: ignore[assignment]
        name = self.path.lstrip("/")
        server.hits[name] += 1
        behaviour, payload = server.routes.get(name, ("status", 404))
        if behaviour == "status":
            self.send_error(payload)
            return
        if behaviour in ("drip", "endless"):
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                self.hostile(behaviour, payload)  # until the client gives up, as it should
            return
        body: bytes = payload if behaviour != "stall" else b"x" * 1000
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if behaviour == "ok":
            self.wfile.write(body)
        elif behaviour == "truncate":
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            self.connection.shutdown(2)
        elif behaviour == "stall":
            self.wfile.write(body[:10])
            self.wfile.flush()
            time.sleep(payload)
        elif behaviour == "slow":
            time.sleep(0.5)
            self.wfile.write(body)

    def hostile(self, behaviour: str, payload: object) -> None:
        """drip: ``payload`` bytes declared, one sent every 0.2 s.  endless: zeros until
        the client hangs up, declaring ``payload`` bytes (None: no Content-Length)."""
        server: Server = self.server  # type: ignore[assignment]
        name = self.path.lstrip("/")
        self.send_response(200)
        declared = len(payload) if behaviour == "drip" else payload
        if declared is not None:
            self.send_header("Content-Length", str(declared))
        self.end_headers()
        chunks = ((payload[i:i + 1] for i in range(len(payload))) if behaviour == "drip"
                  else iter(lambda: bytes(1 << 16), None))
        for chunk in chunks:
            self.wfile.write(chunk)
            self.wfile.flush()
            server.sent[name] += len(chunk)
            if behaviour == "drip":
                time.sleep(0.2)
