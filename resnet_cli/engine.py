"""The batch engine: preprocess in worker threads while the model runs, yield in order.

Memory stays flat: at most ``2 * batch_size`` decoded inputs are in flight, sources are
consumed lazily and records are yielded as soon as their batch is done. Close calls of
photos decoded shrunk are decoded again at full size in a pool of their own (so they never
wait behind the next batches' decodes) before their batch is yielded (decode.CLOSE_CALL).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor

import numpy as np

from resnet_cli import failures
from resnet_cli.classifier import Classifier, ExactDecodes, exact_or_none
from resnet_cli.preprocess import Decoded
from resnet_cli.records import Record, Source

Preprocess = Callable[[str], "np.ndarray | Decoded"]

_WAKE_S = 0.1
Pending = tuple[Source, "Future[Decoded | str] | None"]


def _attempt(preprocess: Preprocess, path: str) -> Decoded | str:
    """Run in a worker: the tensor, or the one-line reason it failed.

    Never an exception: a future holding one would keep the failed decode's frames (and
    pixels) alive in a reference cycle until the garbage collector ran.
    """
    try:
        out = preprocess(path)
    except Exception as exc:  # a decoder bug must not end the run
        return failures.reason(exc)
    return out if isinstance(out, Decoded) else Decoded(out)


def _wait(future: Future) -> object:
    while True:  # wake up now and then: a signal may have landed in a worker thread,
        try:     # and only the main thread runs Python's handlers (Ctrl-C, SIGTERM)
            return future.result(timeout=_WAKE_S)
        except TimeoutError:
            continue


def _decoded(item: Pending) -> Decoded | str:
    """The preprocessed input, or the error text for this input."""
    source, future = item
    if future is None:
        return source.error or "unknown error"
    return _wait(future)


def _in(pool: ThreadPoolExecutor) -> ExactDecodes:
    """Run exact re-decodes side by side in ``pool``."""
    def run(decoders: list[Callable[[], np.ndarray]]) -> list[np.ndarray | None]:
        return [_wait(f) for f in [pool.submit(exact_or_none, d) for d in decoders]]
    return run


def classify(sources: Iterable[Source], classifier: Classifier, batch_size: int,
             workers: int, topk: int, preprocess: Preprocess | None = None
             ) -> Iterator[Record]:
    """One Record per source, in input order.

    ``preprocess`` (path -> tensor or ``Decoded``) defaults to the classifier's own; only a
    ``Decoded`` carrying its exact decoder has its close calls settled.
    """
    preprocess = preprocess or classifier.preprocess.decode
    pool = ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="preprocess")
    settle = ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="settle")
    pending: deque[Pending] = deque()
    it = iter(sources)

    def fill() -> None:
        for source in it:
            future = None if source.error else pool.submit(_attempt, preprocess, source.path)
            pending.append((source, future))
            if len(pending) >= 2 * batch_size:
                return

    try:
        fill()
        while pending:
            chunk = [pending.popleft() for _ in range(min(batch_size, len(pending)))]
            fill()  # the next batch decodes while this one runs through the model
            decoded = [_decoded(item) for item in chunk]
            good = [d for d in decoded if not isinstance(d, str)]
            predictions = iter(classifier.predict_decoded(good, topk, _in(settle))
                               if good else [])
            for (source, _), item in zip(chunk, decoded, strict=True):
                if isinstance(item, str):
                    yield Record(source.path, classifier.name, error=item)
                else:
                    yield Record(source.path, classifier.name, predictions=next(predictions))
    finally:  # on Ctrl-C, never wait for a worker still inside a decoder
        pool.shutdown(wait=False, cancel_futures=True)
        settle.shutdown(wait=False, cancel_futures=True)
