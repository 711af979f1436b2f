"""The batch engine: preprocess in worker threads while the model runs, yield in order.

Memory stays flat: at most ``2 * batch_size`` decoded inputs are in flight, sources are
consumed lazily and records are yielded as soon as their batch is done.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor

import numpy as np

from resnet_cli import failures
from resnet_cli.classifier import Classifier
from resnet_cli.records import Record, Source

Preprocess = Callable[[str], np.ndarray]

_WAKE_S = 0.1
Pending = tuple[Source, "Future[np.ndarray | str] | None"]


def _attempt(preprocess: Preprocess, path: str) -> np.ndarray | str:
    """Run in a worker: the tensor, or the one-line reason it failed.

    Never an exception: a future holding one would keep the failed decode's frames (and
    pixels) alive in a reference cycle until the garbage collector ran.
    """
    try:
        return preprocess(path)
    except Exception as exc:  # a decoder bug must not end the run
        return failures.reason(exc)


def _tensor(item: Pending) -> np.ndarray | str:
    """The preprocessed tensor, or the error text for this input."""
    source, future = item
    if future is None:
        return source.error or "unknown error"
    while True:  # wake up now and then: a signal may have landed in a worker thread,
        try:     # and only the main thread runs Python's handlers (Ctrl-C, SIGTERM)
            return future.result(timeout=_WAKE_S)
        except TimeoutError:
            continue


def classify(sources: Iterable[Source], classifier: Classifier, batch_size: int,
             workers: int, topk: int, preprocess: Preprocess | None = None
             ) -> Iterator[Record]:
    """One Record per source, in input order.

    ``preprocess`` (path -> tensor) defaults to the classifier's own.
    """
    preprocess = preprocess or classifier.preprocess
    pool = ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="preprocess")
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
            tensors = [_tensor(item) for item in chunk]
            good = [t for t in tensors if not isinstance(t, str)]
            predictions = iter(classifier.predict_batch(np.stack(good), topk) if good else [])
            for (source, _), tensor in zip(chunk, tensors, strict=True):
                if isinstance(tensor, str):
                    yield Record(source.path, classifier.name, error=tensor)
                else:
                    yield Record(source.path, classifier.name, predictions=next(predictions))
    finally:  # on Ctrl-C, never wait for a worker still inside a decoder
        pool.shutdown(wait=False, cancel_futures=True)
