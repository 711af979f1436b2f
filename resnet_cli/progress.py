"""A rich progress bar on stderr, shown only when a person is watching."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TypeVar

from rich.console import Console

T = TypeVar("T")


def track(items: Iterable[T], total: int | None, console: Console | None = None,
          description: str = "classifying") -> Iterator[T]:
    """Yield ``items`` while drawing count, rate and ETA (on stderr unless ``console``).

    Results printed through the same ``console`` appear above the bar, not through it.
    """
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    columns = [TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
               TextColumn("{task.fields[rate]}"), TimeElapsedColumn()]
    if total is not None:
        columns += [TextColumn("ETA"), TimeRemainingColumn()]
    with Progress(*columns, console=console or Console(stderr=True), transient=True,
                  redirect_stdout=False, redirect_stderr=False) as progress:
        task = progress.add_task(description, total=total, rate="")
        for item in items:
            progress.advance(task)
            speed = progress.tasks[task].speed
            progress.update(task, rate=f"{speed:.1f} img/s" if speed else "")
            yield item
