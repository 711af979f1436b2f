"""Tables for people: the network summary and the weights list.

On a terminal they are rich tables; into a pipe or a file, aligned plain text (as
``predict`` writes there), so ``grep``, ``awk`` and ``less`` see no box characters.
Paths never wrap inside a name: a cell that holds one keeps it on one line.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TextIO

from resnet_cli.summary import Summary
from resnet_cli.weights.cache import Status


@dataclass(frozen=True)
class Column:
    name: str
    right: bool = False  # numbers: right-aligned
    whole: bool = False  # paths and checksums: never wrapped


def show(stream: TextIO, columns: list[Column], rows: list[list[str]],
         footer: list[list[str]] | None = None, title: str | None = None) -> None:
    """Rich on a terminal, aligned text elsewhere; ``footer`` rows follow a rule."""
    if stream.isatty():
        from rich.console import Console
        from rich.table import Table

        table = Table(title=title, title_justify="left")
        for c in columns:
            table.add_column(c.name, justify="right" if c.right else "left", no_wrap=c.whole)
        for row in rows:
            table.add_row(*row)
        if footer:
            table.add_section()
            for row in footer:
                table.add_row(*row)
        Console(file=stream).print(table)
        return
    every = [[c.name for c in columns], *rows, *(footer or [])]
    widths = [max(len(row[i]) for row in every) for i in range(len(columns))]
    lines = [title] if title else []
    for row in every:
        cells = [cell.rjust(w) if c.right else cell.ljust(w)
                 for c, cell, w in zip(columns, row, widths, strict=True)]
        lines.append("  ".join(cells).rstrip())
    stream.write("\n".join(lines) + "\n")


def _count(n: int) -> str:
    return f"{n:,}" if n else ""


def _macs(n: int) -> str:
    if not n:
        return ""
    for unit, scale in (("G", 1e9), ("M", 1e6), ("K", 1e3)):
        if n >= scale:
            return f"{n / scale:.2f}{unit}"
    return str(n)


def summary_table(summary: Summary, stream: TextIO) -> None:
    columns = [Column("layer"), Column("type"), Column("output shape", right=True),
               Column("params", right=True), Column("MACs", right=True)]
    rows = []
    for row in summary.layers:
        name = row.path if row.depth == 0 else row.path.rsplit(".", 1)[-1]
        kind = f"{row.kind} {row.detail}".strip()
        rows.append(["  " * row.depth + name, kind, "x".join(map(str, row.output_shape[1:])),
                     _count(row.params), _macs(row.macs)])
    footer = [["total parameters", "", "", f"{summary.parameters:,}", _macs(summary.macs)],
              ["trainable", "", "", f"{summary.trainable:,}", ""],
              ["weight size", "", "", f"{summary.size_mb:.1f} MB", ""]]
    show(stream, columns, rows, footer, title=f"{summary.model}  input 1x3x{summary.input_size}"
                                              f"x{summary.input_size}  classes {summary.classes}")


def weights_table(rows: list[Status], stream: TextIO) -> None:
    columns = [Column("model"), Column("source"), Column("checksum", whole=True),
               Column("size", right=True), Column("cached"), Column("path", whole=True)]
    show(stream, columns, [
        [r.model, r.source, r.checksum, f"{r.size / 1e6:.1f} MB" if r.size else "",
         "yes" if r.cached else "no", r.path] for r in rows])
