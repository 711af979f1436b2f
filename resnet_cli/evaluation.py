"""Top-1/top-5 accuracy on a labelled folder.

A file's true class comes from, in order: a file name starting with a WordNet id
(``n01440764_tench.JPEG``, as in the ImageNet sample), or the name of the folder holding
it, matched as a WordNet id or a class name (``tabby`` or ``tiger_cat``, any case).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from resnet_cli.errors import ResnetError
from resnet_cli.records import ImageNetClass, Record

WNID = re.compile(r"n\d{8}")
UNLABELLED = "cannot tell its class from its name or folder"


class Labeller:
    """Maps a path to its true class index, or None when the path says nothing."""

    def __init__(self, classes: tuple[ImageNetClass, ...]) -> None:
        self.by_wnid = {c.wnid: c.index for c in classes}
        self.by_name: dict[str, int] = {}
        for c in classes:
            self.by_name.setdefault(self._key(c.label), c.index)

    @staticmethod
    def _key(name: str) -> str:
        return name.replace("_", " ").strip().casefold()

    def __call__(self, path: str) -> int | None:
        match = WNID.match(os.path.basename(path))
        if match and match.group() in self.by_wnid:
            return self.by_wnid[match.group()]
        folder = os.path.basename(os.path.dirname(os.path.abspath(path)))
        if folder in self.by_wnid:
            return self.by_wnid[folder]
        return self.by_name.get(self._key(folder))


@dataclass
class Hits:
    """Images scored, and how many had the true class first / in the top five."""

    images: int = 0
    top1_hits: int = 0
    top5_hits: int = 0

    def add(self, hit1: bool, hit5: bool) -> None:
        self.images += 1
        self.top1_hits += hit1
        self.top5_hits += hit5

    @property
    def top1_accuracy(self) -> float:
        return self.top1_hits / self.images if self.images else 0.0

    @property
    def top5_accuracy(self) -> float:
        return self.top5_hits / self.images if self.images else 0.0


@dataclass
class ClassScore(Hits):
    wnid: str = ""
    label: str = ""


@dataclass
class Report(Hits):
    model: str = ""
    errors: list[tuple[str, str]] = field(default_factory=list)
    per_class: dict[int, ClassScore] = field(default_factory=dict)

    def text(self) -> str:
        """The lines ``resnet eval`` prints for a person."""
        return (f"model   {self.model}\nimages  {self.images}\n"
                f"top-1   {100 * self.top1_accuracy:.2f}%\n"
                f"top-5   {100 * self.top5_accuracy:.2f}%\nfailed  {len(self.errors)}")

    def as_dict(self) -> dict[str, object]:
        return {
            "model": self.model, "images": self.images, "failed": len(self.errors),
            "top1": self.top1_accuracy, "top5": self.top5_accuracy,
            "per_class": [
                {"index": i, "wnid": s.wnid, "label": s.label, "images": s.images,
                 "top1": s.top1_accuracy, "top5": s.top5_accuracy}
                for i, s in sorted(self.per_class.items())
            ],
            "errors": [{"path": p, "error": e} for p, e in self.errors],
        }


def require_scored(report: Report) -> None:
    """A ResnetError when no image was scored: 0% of nothing is not an accuracy."""
    if report.images:
        return
    if not report.errors:
        raise ResnetError("nothing to score: no inputs")
    path, error = report.errors[0]
    more = f" (and {len(report.errors) - 1} more failed)" if len(report.errors) > 1 else ""
    raise ResnetError(f"nothing to score: {path}: {error}{more}")


def evaluate(records: Iterable[Record], labeller: Labeller,
             classes: tuple[ImageNetClass, ...], model: str) -> Report:
    """Score records (top-5 predictions each) against the labels their paths carry."""
    report = Report(model=model)
    for record in records:
        truth = labeller(record.path)
        if record.error is not None:
            report.errors.append((record.path, record.error))
            continue
        if truth is None:
            report.errors.append((record.path, UNLABELLED))
            continue
        indices = [p.index for p in record.predictions or []]
        score = report.per_class.setdefault(
            truth, ClassScore(wnid=classes[truth].wnid, label=classes[truth].label))
        hit1, hit5 = indices[:1] == [truth], truth in indices[:5]
        report.add(hit1, hit5)
        score.add(hit1, hit5)
    return report
