"""The HTML report of a ``predict`` or ``eval`` run: a folder a browser opens offline.

Layout: ``index.html`` (the page; its CSS and script are inline, nothing is fetched from
the network), ``data/NNNNN.js`` (the records, a chunk at a time, each written whole and
renamed into place), ``thumbs/*.jpg`` (small JPEGs made from the tensor the engine already
decoded, so no photo is read twice) and, for ``eval``, ``calibration.svg``.

``index.html`` is rewritten (atomically) whenever a chunk is added, so a run killed at any
point leaves a page showing every record up to the last chunk; Ctrl-C writes the rest and
the summary before the command exits.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from resnet_cli.engine import Preprocess
from resnet_cli.errors import ResnetError
from resnet_cli.evaluation import UNLABELLED, Labeller, evaluate
from resnet_cli.output import display_path
from resnet_cli.preprocess import Decoded, Preprocessing
from resnet_cli.records import ImageNetClass, Record

CHUNK = 500  # records per data file
FLUSH_SECONDS = 2.0  # or sooner, so a slow run shows progress
THUMB = 128  # pixels, the longer side of a thumbnail
LOW_CONFIDENCE = 0.5  # the page's initial "low confidence" threshold


def thumb_name(path: str) -> str:
    """A file name for ``path``'s thumbnail: the same path always gives the same name."""
    return hashlib.sha1(os.fsencode(path)).hexdigest()[:20] + ".jpg"


def thumbnail(tensor: np.ndarray, preprocess: Preprocessing) -> Any:
    """The normalized (3, H, W) tensor back to pixels, scaled down: what the model saw."""
    from PIL import Image

    scale = (np.array(preprocess.std, dtype=np.float32) * 255)[:, None, None]
    shift = (np.array(preprocess.mean, dtype=np.float32) * 255)[:, None, None]
    pixels = np.clip(np.rint(tensor * scale + shift), 0, 255).astype(np.uint8)
    image = Image.fromarray(np.ascontiguousarray(pixels.transpose(1, 2, 0)), "RGB")
    image.thumbnail((THUMB, THUMB), Image.BILINEAR)
    return image


@dataclass(frozen=True)
class Labels:
    """For ``eval``: how to read an input's true class, and the class names."""

    labeller: Labeller
    classes: tuple[ImageNetClass, ...]


def _environment() -> Any:
    try:
        import jinja2
    except ImportError:
        raise ResnetError("--report needs jinja2 and matplotlib: "
                          "pip install 'resnet-cli[report]'") from None
    return jinja2.Environment(loader=jinja2.PackageLoader("resnet_cli", "templates"),
                              autoescape=True, keep_trailing_newline=True)


def _write_atomic(path: Path, text: str) -> None:
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(text, encoding="utf-8")
    os.replace(temporary, path)


class Report:
    """Collects records into a report folder as they arrive; ``close`` finishes it."""

    def __init__(self, folder: str | os.PathLike[str], command: str, model: str,
                 labels: Labels | None = None) -> None:
        self.template = _environment().get_template("report.html")
        if labels is not None:
            from resnet_cli.report_stats import matplotlib

            matplotlib()  # fail now, not after classifying the whole folder
        self.folder = Path(folder)
        self.command, self.model, self.labels = command, model, labels
        self.started = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
        (self.folder / "thumbs").mkdir(parents=True, exist_ok=True)
        (self.folder / "data").mkdir(exist_ok=True)
        for stale in (self.folder / "data").glob("*.js"):  # from an earlier report here
            stale.unlink()
        self.records: list[Record] = []
        self.pending: list[dict[str, Any]] = []
        self.chunks: list[str] = []
        self.flushed_at = time.monotonic()
        self._write_index("running")

    @property
    def index(self) -> Path:
        return self.folder / "index.html"

    def thumbnails(self, preprocess: Preprocessing) -> Preprocess:
        """``preprocess`` that also saves each input's thumbnail (in the worker thread)."""
        folder = self.folder / "thumbs"

        def preprocess_and_save(path: str) -> Decoded:
            decoded = preprocess.decode(path)
            thumbnail(decoded.tensor, preprocess).save(folder / thumb_name(path), quality=80)
            return decoded

        return preprocess_and_save

    def observe(self, records: Iterable[Record]) -> Iterator[Record]:
        """Pass records on unchanged, adding each to the report; finish it in any case."""
        complete = False
        try:
            for record in records:
                self.add(record)
                yield record
            complete = True
        finally:
            self.close(complete)

    def add(self, record: Record) -> None:
        if self.labels is not None:  # eval's summary needs them all; predict's page does not
            self.records.append(record)
        self.pending.append(self._tile(record))
        if len(self.pending) >= CHUNK or time.monotonic() - self.flushed_at > FLUSH_SECONDS:
            self._flush()
            self._write_index("running")

    def _tile(self, record: Record) -> dict[str, Any]:
        """One record as the page's script reads it (short keys: 10,000 of them)."""
        tile: dict[str, Any] = {"p": display_path(record.path)}
        if record.error is not None:
            tile["e"] = record.error
            return tile
        tile["t"] = thumb_name(record.path)
        tile["k"] = [[p.label, round(p.probability, 4)] for p in record.predictions or []]
        if self.labels is not None:
            truth = self.labels.labeller(record.path)
            if truth is None:
                tile["e"] = UNLABELLED
            else:
                tile["y"] = self.labels.classes[truth].label
        return tile

    def _flush(self) -> None:
        if self.pending:
            name = f"{len(self.chunks):05d}.js"
            rows = json.dumps(self.pending, ensure_ascii=False, separators=(",", ":"))
            _write_atomic(self.folder / "data" / name, f"report.add({rows});\n")
            self.chunks.append(name)
            self.pending = []
        self.flushed_at = time.monotonic()

    def close(self, complete: bool = True) -> None:
        """Write what is pending and the final page (with the eval summary, if any)."""
        self._flush()
        evaluation = self._evaluation() if self.labels is not None else None
        self._write_index("complete" if complete else "interrupted", evaluation)

    def _evaluation(self) -> dict[str, Any]:
        from resnet_cli import report_stats as rs

        assert self.labels is not None
        classes = self.labels.classes
        scores = evaluate(self.records, self.labels.labeller, classes, self.model)
        scored = [rs.Scored(r.path, truth, r.predictions[0].index, r.predictions[0].probability)
                  for r in self.records if r.predictions
                  for truth in [self.labels.labeller(r.path)] if truth is not None]
        calibration = rs.calibration(scored)
        if scored:
            (self.folder / "calibration.svg").write_text(rs.reliability_svg(calibration))
        per_class = sorted(scores.per_class.values(),
                           key=lambda s: (s.top1_accuracy, s.label))
        return {
            "report": scores, "calibration": calibration if scored else None,
            "per_class": per_class,
            "confusions": [
                {"truth": classes[c.truth].label, "predicted": classes[c.predicted].label,
                 "count": c.count,
                 "examples": [(thumb_name(p), display_path(p)) for p in c.examples]}
                for c in rs.confused_pairs(scored)],
        }

    def _write_index(self, status: str, evaluation: dict[str, Any] | None = None) -> None:
        _write_atomic(self.index, self.template.render(
            command=self.command, model=self.model, started=self.started, status=status,
            chunks=self.chunks, low=LOW_CONFIDENCE, eval=self.labels is not None,
            evaluation=evaluation))
