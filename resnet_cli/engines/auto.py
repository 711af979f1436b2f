"""``--engine auto``: the fastest installed engine and precision for this model, batch size
and CPU, found by a short measurement and cached per machine and model.

Why measure instead of a fixed rule: the winner changes with the CPU (issue 14, AVX2 EPYC:
OpenVINO int8 first at batch 1 and 32, ONNX Runtime fp32 ahead of MXNet by 1.09-1.27x;
AVX-512/AMX CPUs have other kernels again), with the batch size and with the network. A
few paired rounds of well under a second each settle it on the machine that will run it.

The cache (``engine-choice.json`` in ``RESNET_HOME``) is keyed by the CPU (model name and
flags), the threads in use, the model's SHA-256 and the batch size, so a copied home
directory or a new CPU measures again.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from resnet_cli import settings

CACHE = "engine-choice.json"
ROUNDS = 3  # paired rounds per candidate
SECONDS = 0.25  # per round and candidate: a choice costs about ROUNDS * SECONDS * candidates

Candidate = tuple[str, str]  # (engine, precision)


@dataclass(frozen=True)
class Choice:
    """What ``auto`` picked and the images/s that decided it (medians of paired rounds)."""

    engine: str
    precision: str
    batch_size: int
    figures: dict[str, float]  # "engine precision" -> images/s
    cpu: str
    cached: bool = False

    def why(self) -> str:
        """One line for ``resnet bench``: the pick, every measured figure, where it came from."""
        figures = ", ".join(f"{name} {rate:.1f}" for name, rate in
                            sorted(self.figures.items(), key=lambda item: -item[1]))
        source = "cached measurement" if self.cached else "measured now"
        return (f"auto picked {self.engine} {self.precision} at batch {self.batch_size} on "
                f"{self.cpu} ({source}, images/s: {figures})")


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


def measure(classifiers: dict[Candidate, Any], batch_size: int) -> dict[str, float]:
    """Median images/s of each classifier on one batch of noise, in paired rounds."""
    from resnet_cli import bench

    first = next(iter(classifiers.values()))
    batch = bench.batch_of(first, batch_size)
    runs = {label(c): bench.model_only(clf, batch, SECONDS) for c, clf in classifiers.items()}
    return {m.label: m.median for m in bench.paired(runs, ROUNDS)}


def pick(figures: dict[str, float]) -> Candidate:
    """The fastest; on a tie, the earlier candidate (MXNet fp32 first: the reference)."""
    best = max(figures, key=lambda name: figures[name])
    engine, precision = best.split(" ")
    return engine, precision


def choose(candidates: list[Candidate], load: Callable[[str, str], Any],
           model_sha: str, batch_size: int) -> tuple[Any, Choice]:
    """The classifier of the fastest candidate and the choice (cached or measured now)."""
    key = cache_key(model_sha, batch_size)
    if len(candidates) == 1 or (choice := cached(key, candidates)) is None:
        classifiers = {c: load(*c) for c in candidates}
        figures = (measure(classifiers, batch_size) if len(candidates) > 1
                   else {label(candidates[0]): 0.0})
        engine, precision = pick(figures)
        choice = Choice(engine, precision, batch_size, figures, cpu()[0])
        if len(candidates) > 1:
            store(key, choice)
        return classifiers[engine, precision], choice
    return load(choice.engine, choice.precision), choice
