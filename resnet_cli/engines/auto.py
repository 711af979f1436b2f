"""``--engine auto``: the fastest installed engine and precision for this model, batch size
and CPU, found by a short measurement and cached per machine and model.

Why measure instead of a fixed rule: the winner changes with the CPU (issue 14, AVX2 EPYC:
OpenVINO int8 first at batch 1 and 32, ONNX Runtime fp32 ahead of MXNet by 1.09-1.27x;
AVX-512/AMX CPUs have other kernels again), with the batch size and with the network. A
few paired rounds of well under a second each settle it on the machine that will run it;
when the runner-up comes out within 10% of the best (two runtimes on the same kernels
often do, and three short rounds cannot order them) both run more rounds, side by side.

Each candidate is measured in a process of its own, as it will run: in one process the
runtimes disturb each other (SqueezeNet, batch 1, load average 3: OpenVINO 65-124 images/s
taking turns with ONNX Runtime, whose threads spin on after each run, against 125-143
alone; MXNet 4-5 beside either against 29 alone), and the losers' threads would stay in
the process that then runs the winner. Across processes ONNX Runtime's spinning threads
still took a core from the next candidate, so each round starts once the others' threads
have stopped (``resnet_cli.turns``), and a round is sized on warm passes
(``bench.model_only``: sized on the first pass, OpenVINO's int8 SqueezeNet rounds at batch
1 lasted 22 ms instead of 0.25 s, too short to rank it against ONNX Runtime's, which auto
had put first on a quiet machine where compare.py then measured it 1.2x slower).

The cache (``engine-choice.json`` in ``RESNET_HOME``) is keyed by the CPU (model name and
flags), the threads in use, the model's SHA-256 and the batch size, so a copied home
directory or a new CPU measures again.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from resnet_cli import settings
from resnet_cli.errors import ResnetError

CACHE = "engine-choice.json"
ROUNDS = 3  # paired rounds of every candidate
SECONDS = 0.25  # per round and candidate (or one batch, if that takes longer)
CLOSE = 1.10  # a runner-up within 10% of the best (median of paired ratios) ...
MORE_ROUNDS = 6  # ... and the best run this many more paired rounds, and the median ratio
# over all 9 decides. A choice costs, per candidate, about 2 + ROUNDS rounds (a timing pass
# and a warm-up first), plus 2 * MORE_ROUNDS when the top two are close, besides loading.

Candidate = tuple[str, str]  # (engine, precision)
Rates = dict[str, list[float]]  # "engine precision" -> images/s, one per round
Timed = Callable[[dict[str, Callable[[], int]], int], Rates]  # (runs, rounds) -> rates


@dataclass(frozen=True)
class Choice:
    """What ``auto`` picked and the images/s that decided it (medians of paired rounds)."""

    engine: str
    precision: str
    batch_size: int
    figures: dict[str, float]  # "engine precision" -> images/s
    cpu: str
    close: str = ""  # how the close candidates compared when measured again, if any were
    seconds: float = 0.0  # the measurement took (loading and warm-up included)
    cached: bool = False

    def why(self) -> str:
        """One line for ``resnet bench``: the pick, every measured figure, where it came from."""
        figures = ", ".join(f"{name} {rate:.1f}" for name, rate in
                            sorted(self.figures.items(), key=lambda item: -item[1]))
        source = "cached measurement" if self.cached else f"measured now in {self.seconds:.1f} s"
        close = f"; {self.close}" if self.close else ""
        return (f"auto picked {self.engine} {self.precision} at batch {self.batch_size} on "
                f"{self.cpu} ({source}, images/s: {figures}{close})")


def cpu() -> tuple[str, str]:
    """The CPU's model name and its feature flags (AVX2, AVX-512, VNNI, AMX decide kernels)."""
    fields: dict[str, str] = {}
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            fields.setdefault(key.strip(), value.strip())
    except OSError:
        pass
    model = fields.get("model name") or platform.processor() or "unknown CPU"
    flags = fields.get("flags") or fields.get("Features") or ""
    return model, " ".join(sorted(flags.split()))


def cache_key(model_sha256: str, batch_size: int) -> str:
    model, flags = cpu()
    machine = hashlib.sha256(f"{model}\n{flags}".encode()).hexdigest()[:16]
    return f"{machine}/{settings.current().threads}t/{model_sha256}/b{batch_size}"


def model_sha256(files: list[Path]) -> str:
    """One SHA-256 over the files that define the model (a model dir's SHA256SUMS, or the
    weights file): the same network measures the same on the same machine."""
    digest = hashlib.sha256()
    for path in files:
        with path.open("rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


def cache_path() -> Path:
    return settings.current().home / CACHE


def read_cache() -> dict[str, Any]:
    """The cached choices; an unreadable or foreign file counts as empty (measured again)."""
    try:
        data = json.loads(cache_path().read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def cached(key: str, candidates: list[Candidate]) -> Choice | None:
    """The cached choice for ``key``, if it was made among exactly these candidates (an
    engine installed or an int8 model added since makes it stale)."""
    entry = read_cache().get(key)
    try:
        choice = Choice(**{**entry, "cached": True})
    except TypeError:
        return None
    measured = sorted(choice.figures)
    return choice if measured == sorted(label(c) for c in candidates) else None


def store(key: str, choice: Choice) -> None:
    """Add ``choice`` to the cache, atomically (a parallel ``resnet`` reads a whole file)."""
    data = read_cache()
    data[key] = {k: v for k, v in asdict(choice).items() if k != "cached"}
    path = cache_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}")
    temporary.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")
    os.replace(temporary, path)


def label(candidate: Candidate) -> str:
    return " ".join(candidate)


def timed_rounds(runs: dict[str, Callable[[], int]], rounds: int) -> Rates:
    """Images/s of each run in ``rounds`` rounds, taking turns (``bench.paired``); before
    each, the measuring processes' threads are left to stop, as the user's process, which
    runs one engine, never has another's threads spinning beside it."""
    from resnet_cli import bench, turns

    pids = [run.process.pid for run in runs.values() if isinstance(run, Worker)]
    return {m.label: m.images_per_second
            for m in bench.paired(runs, rounds, lambda: turns.quiet(pids))}


def ratio(faster: list[float], slower: list[float]) -> float:
    """The median over rounds of one rate / the other's in the same round: a burst of load
    from other processes slows both sides of a pair, so it cancels where medians would not."""
    return statistics.median(a / b for a, b in zip(faster, slower, strict=True))


def decide(runs: dict[str, Callable[[], int]], timed: Timed = timed_rounds
           ) -> tuple[str, Rates, str]:
    """The fastest run's label, every run's rates and, if the runner-up came within
    ``CLOSE`` of the best, how the two compared after ``MORE_ROUNDS`` more rounds of both."""
    rates = timed(runs, ROUNDS)
    by_speed = sorted(rates, key=lambda name: -statistics.median(rates[name]))  # stable
    best, runner_up = by_speed[:2]
    if ratio(rates[best], rates[runner_up]) >= CLOSE:
        return best, rates, ""
    more = timed({name: runs[name] for name in (best, runner_up)}, MORE_ROUNDS)
    for name in (best, runner_up):
        rates[name] = rates[name] + more[name]
    if ratio(rates[runner_up], rates[best]) > 1.0:  # on a tie the earlier candidate stays
        best, runner_up = runner_up, best
    return best, rates, (f"{best} / {runner_up} x{ratio(rates[best], rates[runner_up]):.3f} "
                         f"over {len(rates[best])} paired rounds")


class Worker:
    """One candidate loaded in a process of its own (``serve``); calling it runs a fixed
    number of batches there, about ``SECONDS`` long, and returns the images done."""

    def __init__(self, source: dict[str, Any], candidate: Candidate, batch_size: int) -> None:
        environ = dict(os.environ)
        if not settings.current().threads_requested:  # MXNet may have set it in this one
            environ.pop("OMP_NUM_THREADS", None)
        self.errors = tempfile.TemporaryFile("w+")  # noqa: SIM115 - closed by close()
        self.process = subprocess.Popen(
            [sys.executable, "-c", "from resnet_cli.engines import auto; auto.serve()"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.errors, text=True,
            env=environ)
        self.reply(json.dumps({**source, "engine": candidate[0], "precision": candidate[1],
                               "batch_size": batch_size, "seconds": SECONDS}))

    def reply(self, line: str) -> str:
        try:
            self.process.stdin.write(line + "\n")
            self.process.stdin.flush()
            answer = self.process.stdout.readline()
        except BrokenPipeError:
            answer = ""
        if not answer:
            self.process.wait()
            self.errors.seek(0)
            lines = self.errors.read().strip().splitlines() or ["no message"]
            self.close()
            reason = lines[-1].removeprefix(f"{ResnetError.__module__}.ResnetError: ")
            raise ResnetError(f"--engine auto: measuring a candidate failed: {reason}")
        return answer

    def __call__(self) -> int:
        return int(self.reply("run"))

    def close(self) -> None:
        with contextlib.suppress(BrokenPipeError):  # it had ended already
            self.process.stdin.close()  # the worker's loop ends
        self.process.wait()
        self.errors.close()


def serve() -> None:
    """A ``Worker``'s process: load the candidate named on stdin, then one warmed-up run
    per line read, answering with the images done."""
    from resnet_cli import bench, engines

    job = json.loads(sys.stdin.readline())
    classifier = engines.load(job["engine"], job["model"], job["weights_file"],
                              job["model_dir"], fuse=job["fuse"], precision=job["precision"])
    run = bench.model_only(classifier, bench.batch_of(classifier, job["batch_size"]),
                           job["seconds"])
    print("ready", flush=True)
    for _ in sys.stdin:
        print(run(), flush=True)


def measure(candidates: list[Candidate], source: dict[str, Any], batch_size: int,
            timed: Timed = timed_rounds) -> tuple[Candidate, dict[str, float], str]:
    """The fastest candidate on one batch of noise, the median images/s of each, and how
    the close ones compared; each measured in its own process, loaded one after another."""
    workers: dict[str, Worker] = {}
    try:
        for candidate in candidates:
            workers[label(candidate)] = Worker(source, candidate, batch_size)
        winner, rates, close = decide(dict(workers), timed)
    finally:
        for worker in workers.values():
            worker.close()
    engine, precision = winner.split(" ")
    return (engine, precision), {name: statistics.median(r) for name, r in rates.items()}, close


def choose(candidates: list[Candidate], load: Callable[[str, str], Any],
           source: dict[str, Any], model_sha: str, batch_size: int,
           timed: Timed = timed_rounds) -> tuple[Any, Choice]:
    """The classifier of the fastest candidate and the choice (cached or measured now).
    ``source`` names the model for the measuring processes (JSON: model, weights_file,
    model_dir, fuse); ``load`` loads a candidate here."""
    key = cache_key(model_sha, batch_size)
    if len(candidates) == 1:
        return load(*candidates[0]), Choice(*candidates[0], batch_size,
                                            {label(candidates[0]): 0.0}, cpu()[0])
    if (choice := cached(key, candidates)) is None:
        start = time.perf_counter()
        (engine, precision), figures, close = measure(candidates, source, batch_size, timed)
        choice = Choice(engine, precision, batch_size, figures, cpu()[0], close,
                        round(time.perf_counter() - start, 1))
        store(key, choice)
    return load(choice.engine, choice.precision), choice
