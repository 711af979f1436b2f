"""Rich tables for people: the network summary and the weights list."""

from __future__ import annotations

from typing import TextIO

from rich.console import Console
from rich.table import Table

from resnet_cli.summary import Summary
from resnet_cli.weights.cache import Status


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
    table = Table(title=f"{summary.model}  input 1x3x{summary.input_size}x{summary.input_size}"
                        f"  classes {summary.classes}", title_justify="left")
    table.add_column("layer")
    table.add_column("type")
    table.add_column("output shape", justify="right")
    table.add_column("params", justify="right")
    table.add_column("MACs", justify="right")
    for row in summary.layers:
        name = row.path if row.depth == 0 else row.path.rsplit(".", 1)[-1]
        kind = f"{row.kind} {row.detail}".strip()
        table.add_row("  " * row.depth + name, kind, "x".join(map(str, row.output_shape[1:])),
                      _count(row.params), _macs(row.macs))
    table.add_section()
    table.add_row("total parameters", "", "", f"{summary.parameters:,}", _macs(summary.macs))
    table.add_row("trainable", "", "", f"{summary.trainable:,}", "")
    table.add_row("weight size", "", "", f"{summary.size_mb:.1f} MB", "")
    console = Console(file=stream, width=None if stream.isatty() else 120)
    console.print(table)


def weights_table(rows: list[Status], stream: TextIO) -> None:
    table = Table("model", "source", "checksum", "size", "cached", "path")
    for r in rows:
        size = f"{r.size / 1e6:.1f} MB" if r.size else ""
        table.add_row(r.model, r.source, r.checksum, size, "yes" if r.cached else "no", r.path)
    Console(file=stream, width=None if stream.isatty() else 250).print(table)
