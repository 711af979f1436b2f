"""What the eval report shows beyond top-1/top-5: confused class pairs and calibration.

Calibration: top-1 predictions are binned by confidence; a calibrated model is right in
each bin as often as it is confident (the reliability diagram's diagonal).  The expected
calibration error (ECE) is the count-weighted mean gap (Guo et al., 2017).
"""

from __future__ import annotations

import io
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from resnet_cli.errors import ResnetError

BINS = 10


@dataclass(frozen=True)
class Scored:
    """One classified, labelled input: its true class and the model's top-1 guess."""

    path: str
    truth: int
    predicted: int
    confidence: float


@dataclass(frozen=True)
class Confusion:
    truth: int
    predicted: int
    count: int
    examples: list[str]  # paths, at most ``examples`` of them


def confused_pairs(scored: Sequence[Scored], top: int = 10, examples: int = 4
                   ) -> list[Confusion]:
    """The most frequent (true class, wrong top-1 class) pairs, with example paths."""
    paths: dict[tuple[int, int], list[str]] = defaultdict(list)
    counts: Counter[tuple[int, int]] = Counter()
    for s in scored:
        if s.predicted != s.truth:
            counts[s.truth, s.predicted] += 1
            if len(paths[s.truth, s.predicted]) < examples:
                paths[s.truth, s.predicted].append(s.path)
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))[:top]
    return [Confusion(t, p, n, paths[t, p]) for (t, p), n in ranked]


@dataclass(frozen=True)
class Bin:
    low: float
    high: float
    count: int
    accuracy: float  # fraction right among the bin's inputs (0 when empty)
    confidence: float  # their mean top-1 probability (the bin's centre when empty)


@dataclass(frozen=True)
class Calibration:
    bins: list[Bin]
    ece: float


def calibration(scored: Sequence[Scored], bins: int = BINS) -> Calibration:
    """Equal-width confidence bins over [0, 1]; the last bin includes 1.0."""
    members: list[list[Scored]] = [[] for _ in range(bins)]
    for s in scored:
        members[min(int(s.confidence * bins), bins - 1)].append(s)
    result, ece = [], 0.0
    for i, group in enumerate(members):
        low, high = i / bins, (i + 1) / bins
        if group:
            accuracy = sum(s.predicted == s.truth for s in group) / len(group)
            confidence = sum(s.confidence for s in group) / len(group)
            ece += len(group) / len(scored) * abs(accuracy - confidence)
        else:
            accuracy, confidence = 0.0, (low + high) / 2
        result.append(Bin(low, high, len(group), accuracy, confidence))
    return Calibration(result, ece)


def matplotlib() -> Any:
    """matplotlib (headless), or the error saying how to install it."""
    try:
        import matplotlib
    except ImportError:
        raise ResnetError("the eval report needs matplotlib: pip install 'resnet-cli[report]'"
                          ) from None
    matplotlib.use("Agg")
    return matplotlib


def reliability_svg(result: Calibration) -> str:
    """The reliability diagram as an SVG document (matplotlib, no fonts embedded)."""
    mpl = matplotlib()
    from matplotlib.figure import Figure

    figure = Figure(figsize=(4.2, 4.2))
    axes = figure.subplots()
    width = 1 / len(result.bins)
    lows = [b.low for b in result.bins]
    filled = [b for b in result.bins if b.count]
    axes.bar(lows, [b.accuracy if b.count else 0 for b in result.bins], width=width,
             align="edge", color="#4c78a8", edgecolor="white", label="accuracy")
    axes.bar([b.low for b in filled], [b.confidence - b.accuracy for b in filled],
             bottom=[b.accuracy for b in filled], width=width, align="edge",
             color="#e45756", alpha=0.35, edgecolor="#e45756", label="gap to confidence")
    axes.plot([0, 1], [0, 1], linestyle="--", color="grey", label="calibrated")
    axes.set(xlim=(0, 1), ylim=(0, 1), xlabel="top-1 confidence", ylabel="top-1 accuracy",
             title=f"Reliability (ECE {100 * result.ece:.1f}%)")
    axes.legend(loc="upper left", fontsize="small")
    figure.tight_layout()
    out = io.StringIO()
    with mpl.rc_context({"svg.fonttype": "none", "svg.hashsalt": "resnet"}):
        figure.savefig(out, format="svg", metadata={"Date": None})
    return out.getvalue()
