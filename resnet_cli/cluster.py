"""``--scheduler``: the same records, classified on a Dask cluster.

The client expands the inputs and sends their paths (never the images) in chunks; each
worker process loads the network once, keyed by the SHA-256 of its files, and runs the
local engine on every chunk it gets.  At most ``2 x worker threads`` chunks are in flight,
so the client's memory stays flat however many inputs there are, and records are yielded in
input order as soon as the chunks before them are done.

Faults: Dask reruns a dead worker's chunks elsewhere; a chunk that keeps killing workers
(Dask's ``KilledWorker``) is split in halves until the input doing it is alone, and that
input gets an error record.  Losing the scheduler is a ``ResnetError`` (exit 2) after every
record before it has been yielded; leaving early (Ctrl-C, a closed pipe) cancels the run's
chunks on the cluster.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import itertools
import os
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from resnet_cli import __version__
from resnet_cli.errors import ResnetError
from resnet_cli.records import Record, Source

if TYPE_CHECKING:
    from resnet_cli.classifier import Classifier
    from resnet_cli.decode import ResizeMode

DEFAULT_CHUNK_SIZE = 64
CONNECT_TIMEOUT = 30.0
WORKER_WAIT = 60.0  # how long a run waits for a first worker to join
CRASHED = "crashed the worker process every time it was tried ({} times); skipped"
_INSTALL = "pip install 'resnet-cli[cluster]'"

Blob = dict[str, bytes]  # file name -> bytes: a .params file, or a model directory


@dataclass(frozen=True)
class ModelRef:
    """What a worker needs to build the classifier, named by the SHA-256 of its files."""

    name: str  # canonical model name, or the model directory's
    sha256: str
    directory: bool  # the files are a `resnet build` directory, not one .params file


def address(option: str | None) -> str | None:
    """The scheduler: ``--scheduler``, else Dask's own ``DASK_SCHEDULER_ADDRESS`` or its
    ``scheduler-address`` config; ``dask.config`` (a second to import) only if a Dask
    config file exists, so a plain local run does not pay for it."""
    if option:
        return option
    if from_env := os.environ.get("DASK_SCHEDULER_ADDRESS"):
        return from_env
    if not any(_yaml_files(Path(p)) for p in _dask_config_paths()):
        return None
    try:
        import dask.config
    except ImportError:
        return None
    return dask.config.get("scheduler-address", None) or None


def _dask_config_paths() -> list[str]:
    """Where Dask reads its YAML config (``dask.config.paths`` and ``DASK_CONFIG``)."""
    import sys

    return [os.environ.get("DASK_ROOT_CONFIG", "/etc/dask"),
            os.path.join(sys.prefix, "etc", "dask"),
            os.environ.get("DASK_CONFIG", os.path.join(Path.home(), ".config", "dask"))]


def _yaml_files(path: Path) -> bool:
    if path.is_file():
        return True
    return path.is_dir() and any(path.glob("*.y*ml"))


# ---------------------------------------------------------------- client: the model


def blob_sha256(blob: Blob) -> str:
    """One .params file: its own SHA-256 (as the weights records); a directory: of all."""
    if list(blob) == ["weights.params"]:
        return hashlib.sha256(blob["weights.params"]).hexdigest()
    digest = hashlib.sha256()
    for name in sorted(blob):
        digest.update(f"{name}\0{hashlib.sha256(blob[name]).hexdigest()}\n".encode())
    return digest.hexdigest()


def model_files(model: str, weights_file: str | None, model_dir: str | None,
                notify: Callable[[str], None]) -> tuple[ModelRef, Blob]:
    """The reference and the files to ship, read (and verified, or fetched) on the client."""
    if model_dir is not None:
        from resnet_cli import modeldir

        root = Path(model_dir)
        description = modeldir.read_dir(root)  # checks SHA256SUMS
        blob = {p.relative_to(root).as_posix(): p.read_bytes()
                for p in sorted(root.rglob("*")) if p.is_file()}
        return ModelRef(description.name, blob_sha256(blob), True), blob
    from resnet_cli.registry import canonical_name
    from resnet_cli.weights import fetch

    name = canonical_name(model)
    path = fetch.locate(name, weights_file, notify=notify)
    blob = {"weights.params": path.read_bytes()}
    return ModelRef(name, blob_sha256(blob), False), blob


# ---------------------------------------------------------------- worker side

_models: dict[str, Classifier] = {}
_model_lock = threading.Lock()
_run_lock = threading.Lock()  # one forward pass at a time per process (MXNet graphs)
_local_sha: dict[tuple[str, float, int], str] = {}


def holds(ref: ModelRef) -> bool:
    """On a worker: is this model loaded, or are its weights here already (bundled, cached)?"""
    return ref.sha256 in _models or _local_weights(ref) is not None


def _local_weights(ref: ModelRef) -> Path | None:
    if ref.directory:
        return None
    from resnet_cli.weights import cache, catalog

    for path in (catalog.bundled_path(ref.name), cache.cached_path(ref.name)):
        if path is not None and path.is_file():
            stat = path.stat()
            key = (str(path), stat.st_mtime, stat.st_size)
            if key not in _local_sha:
                _local_sha[key] = cache.sha256_file(path)
            if _local_sha[key] == ref.sha256:
                return path
    return None


def classifier_for(ref: ModelRef, blob: Blob | None) -> Classifier:
    """The worker process's classifier for ``ref``: loaded on first use, then reused."""
    with _model_lock:
        if ref.sha256 not in _models:
            _prepare_worker()
            _models.clear()  # one model per process: a new run's model replaces the old
            _models[ref.sha256] = _load(ref, blob)
        return _models[ref.sha256]


def _prepare_worker() -> None:
    """As the ``resnet`` command sets up its process: decoder warnings handled the same
    way, and MXNet threads for this worker.  Dask's nanny sets OMP_NUM_THREADS=1 for its
    workers; a chunk's forward pass should use the cores this worker process may run on
    (or $RESNET_WORKER_THREADS, when several workers share a machine)."""
    import sys

    from resnet_cli import process, settings

    process.quiet_decoders()
    if "mxnet" not in sys.modules:
        os.environ["OMP_NUM_THREADS"] = os.environ.get(
            "RESNET_WORKER_THREADS", str(settings.available_cores()))
        settings.reload()


def _load(ref: ModelRef, blob: Blob | None) -> Classifier:
    import tempfile

    from resnet_cli.classifier import Classifier

    local = _local_weights(ref)
    if local is not None:
        return Classifier.load(ref.name, local)
    if blob is None:
        raise ResnetError(f"this worker does not hold model {ref.name} ({ref.sha256[:12]})")
    if blob_sha256(blob) != ref.sha256:
        raise ResnetError(f"the model files for {ref.name} arrived damaged")
    with tempfile.TemporaryDirectory(prefix="resnet-model-") as tmp:
        for name, data in blob.items():
            target = Path(tmp, name)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
        if ref.directory:
            return Classifier.from_dir(tmp)
        return Classifier.load(ref.name, Path(tmp, "weights.params"))


def run_chunk(sources: list[Source], ref: ModelRef, blob: Blob | None, batch_size: int,
              topk: int, resize: ResizeMode | None = None) -> list[Record]:
    """On a worker: one record per source, in order, by the local engine.

    ``resize``: the client's ``--resize``, else the model's own default."""
    from resnet_cli import engine, settings

    classifier = classifier_for(ref, blob)
    preprocess = classifier.preprocess
    if resize is not None:
        preprocess = replace(preprocess, resize_mode=resize)
    with _run_lock:
        return list(engine.classify(sources, classifier, batch_size, settings.current().cores,
                                    topk, _test_hooks(preprocess.decode)))


def _test_hooks(preprocess: Callable[[str], Any]) -> Callable[[str], Any]:
    """Tests only, with RESNET_TEST_HOOKS=1: decoding a path containing
    $RESNET_TEST_CRASH_ON ends the worker process at once, as a decoder crash would; one
    containing $RESNET_TEST_HOLD_ON waits (at most 5 minutes) until ``<path>.release``
    exists, so that a test acts on a run that is surely still under way."""
    if os.environ.get("RESNET_TEST_HOOKS") != "1":
        return preprocess
    crash, hold = os.environ.get("RESNET_TEST_CRASH_ON"), os.environ.get("RESNET_TEST_HOLD_ON")

    def hooked(path: str) -> Any:
        if crash and crash in path:
            os._exit(70)
        if hold and hold in path:
            deadline = time.monotonic() + 300
            while not os.path.exists(path + ".release") and time.monotonic() < deadline:
                time.sleep(0.05)
        return preprocess(path)
    return hooked


# ---------------------------------------------------------------- client: the run


def connect(scheduler: str) -> Any:
    """A Dask client on ``scheduler``, or ResnetError (exit 2) saying why not."""
    try:
        from distributed import Client
    except ImportError:
        raise ResnetError(f"--scheduler needs Dask's distributed: {_INSTALL}") from None
    _quiet_dask_logs()
    try:
        return Client(scheduler, timeout=CONNECT_TIMEOUT, set_as_default=False)
    except (OSError, TimeoutError) as exc:
        raise ResnetError(f"cannot reach the Dask scheduler at {scheduler}: "
                          f"{str(exc).splitlines()[0] if str(exc) else type(exc).__name__}"
                          ) from None


def _quiet_dask_logs() -> None:
    """No Dask log lines on the client's stderr: what Dask handles itself (a result lost
    with its worker is recomputed) needs no word, and what ends the run (a lost scheduler,
    whose reconnection Dask logs with a traceback when the client closes) is this tool's
    one-line error.  Dask configures several loggers, each with its own level."""
    import logging

    import distributed  # noqa: F401  (its logging configuration is applied on import)

    for name in [n for n in logging.root.manager.loggerDict if n.split(".")[0] == "distributed"]:
        logging.getLogger(name).setLevel(logging.CRITICAL)


def check_workers(client: Any) -> None:
    """Wait for a worker; every worker must run this client's resnet-cli version (one that
    cannot answer because its connection closed is leaving, and is not held against it)."""
    try:
        client.wait_for_workers(1, timeout=WORKER_WAIT)
    except TimeoutError:
        raise ResnetError(f"no Dask worker joined the scheduler within {WORKER_WAIT:g} s"
                          ) from None
    versions = client.run(importlib.metadata.version, "resnet-cli", on_error="return")
    for worker, version in sorted(versions.items()):
        if isinstance(version, importlib.metadata.PackageNotFoundError):
            raise ResnetError(f"Dask worker {worker} does not have resnet-cli installed: "
                              f"{_INSTALL} on every worker")
        if isinstance(version, OSError):
            continue  # leaving as it was asked (killed, restarting): Dask reruns its work
        if isinstance(version, BaseException):
            raise ResnetError(f"Dask worker {worker} cannot report its resnet-cli version: "
                              f"{type(version).__name__}: {version}")
        if version != __version__:
            raise ResnetError(f"Dask worker {worker} has resnet-cli {version}, this client "
                              f"{__version__}: install the same version everywhere")


@dataclass
class _Part:
    """Consecutive inputs of one chunk: their paths as given, and as a worker reads them."""

    shown: list[str]
    sources: list[Source]
    future: Any = None
    records: list[Record] | None = None


@dataclass
class _Chunk:
    parts: dict[tuple[int, ...], _Part] = field(default_factory=dict)

    def done(self) -> bool:
        return all(p.records is not None for p in self.parts.values())

    def records(self) -> Iterator[Record]:
        for key in sorted(self.parts):
            part = self.parts[key]
            for shown, record in zip(part.shown, part.records or [], strict=True):
                yield record if record.path == shown else replace(record, path=shown)


def _for_worker(source: Source) -> Source:
    """Local paths made absolute: the worker's working directory is not the client's."""
    from resnet_cli import remote

    if source.error or remote.is_url(source.path):
        return source
    return replace(source, path=os.path.abspath(source.path))


class Run:
    """One classification run on a cluster: connect, check workers, ship the model."""

    def __init__(self, client: Any, ref: ModelRef, blob: Blob,
                 task: Callable[..., list[Record]] = run_chunk,
                 resize: ResizeMode | None = None) -> None:
        self.client = client
        self.address = client.scheduler.address
        self.ref = ref
        self.task = task
        self.resize = resize
        self.id = uuid.uuid4().hex[:8]
        held = client.run(holds, ref, on_error="return")
        everywhere = all(value is True for value in held.values())
        self.blob = None if everywhere else client.scatter([blob], broadcast=True)[0]

    def in_flight(self) -> int:
        threads = sum(w.get("nthreads", 1) for w in
                      self.client.scheduler_info()["workers"].values())
        return max(2, 2 * threads)

    def classify(self, sources: Iterable[Source], batch_size: int, topk: int,
                 chunk_size: int = DEFAULT_CHUNK_SIZE) -> Iterator[Record]:
        """One record per source, in input order, as the chunks complete."""
        from distributed import as_completed

        chunks: dict[int, _Chunk] = {}
        owner: dict[str, tuple[int, tuple[int, ...]]] = {}
        waiting = as_completed(loop=self.client.loop)
        batches = enumerate(_batched(sources, chunk_size))
        limit, checked, emitted = self.in_flight(), time.monotonic(), 0

        def submit(index: int, key: tuple[int, ...], part: _Part) -> None:
            part.future = self.client.submit(
                self.task, part.sources, self.ref, self.blob, batch_size, topk, self.resize,
                key=f"resnet-{self.id}-{index}-{'.'.join(map(str, key))}",
                priority=-index, pure=False)
            owner[part.future.key] = (index, key)
            chunks[index].parts[key] = part
            waiting.add(part.future)

        def fill() -> None:
            for index, batch in batches:
                chunks[index] = _Chunk()
                submit(index, (), _Part([s.path for s in batch],
                                        [_for_worker(s) for s in batch]))
                if len(chunks) >= limit:
                    return

        try:
            fill()
            while chunks:
                future = next(waiting)
                index, key = owner.pop(future.key)
                part = chunks[index].parts[key]
                if halves := self._collect(future, part):
                    del chunks[index].parts[key]
                    for i, half in enumerate(halves):
                        submit(index, (*key, i), half)
                while emitted in chunks and chunks[emitted].done():
                    yield from chunks.pop(emitted).records()
                    emitted += 1
                if time.monotonic() - checked > 2.0:  # workers come and go
                    limit, checked = self.in_flight(), time.monotonic()
                fill()
        finally:
            live = [p.future for c in chunks.values() for p in c.parts.values()
                    if p.records is None and p.future is not None]
            if live and self.client.status == "running":
                self.client.cancel(live, force=True)

    def _collect(self, future: Any, part: _Part) -> list[_Part]:
        """Fetch a done part's records; if it kept killing workers, its two halves to rerun
        (none once it is one input: that gets an error record); other failures end the run.

        A worker that dies after finishing, before the result is fetched, only delays it:
        ``result()`` waits while Dask computes the part again.
        """
        from asyncio import CancelledError

        from distributed import KilledWorker

        try:
            part.records = future.result()
            return []
        except KilledWorker:
            pass
        except (Exception, CancelledError) as error:  # a lost scheduler cancels every future
            if self.client.status != "running" or future.cancelled():
                raise ResnetError(f"lost the Dask scheduler at {self.address}; every record "
                                  f"before this point was written") from None
            raise _worker_error(error) from None
        if len(part.sources) == 1:
            reason = CRASHED.format(_allowed_failures(self.client) + 1)
            part.records = [_error_record(part.sources[0], self.ref.name, reason)]
            return []
        half = len(part.sources) // 2
        return [_Part(part.shown[:half], part.sources[:half]),
                _Part(part.shown[half:], part.sources[half:])]


def _allowed_failures(client: Any) -> int:
    """How many worker deaths the scheduler tolerates for one task before giving up on it."""
    try:
        return int(client.run_on_scheduler(
            lambda: __import__("dask").config.get("distributed.scheduler.allowed-failures")))
    except Exception:
        return 3


def _worker_error(error: BaseException) -> ResnetError:
    """One line for what went wrong on a worker, instead of a remote traceback."""
    if isinstance(error, ModuleNotFoundError) and "resnet_cli" in str(error):
        return ResnetError(f"a Dask worker does not have resnet-cli installed: {_INSTALL}")
    if isinstance(error, ResnetError):
        return ResnetError(f"on a Dask worker: {error}")
    text = str(error).strip().splitlines()
    return ResnetError(f"a Dask worker failed: {type(error).__name__}"
                       + (f": {text[0]}" if text else ""))


def _error_record(source: Source, model: str, reason: str) -> Record:
    return Record(source.path, model, error=reason)


def _batched(items: Iterable[Source], size: int) -> Iterator[list[Source]]:
    it = iter(items)
    while batch := list(itertools.islice(it, size)):
        yield batch


def classify(scheduler: str, sources: Iterable[Source], ref: ModelRef, blob: Blob,
             batch_size: int, topk: int, chunk_size: int = DEFAULT_CHUNK_SIZE,
             resize: ResizeMode | None = None) -> Iterator[Record]:
    """Records for ``sources`` from the cluster at ``scheduler``; the client closes at the end."""
    client = connect(scheduler)
    try:
        check_workers(client)
        run = Run(client, ref, blob, resize=resize)
        yield from run.classify(sources, batch_size, topk, chunk_size)
    finally:
        client.close()
