"""Render Records: rich tables on a terminal, aligned text in a pipe, or machine formats.

Every writer flushes after each record, so ``resnet predict DIR --format jsonl | jq``
shows results while the run goes on.
"""

from __future__ import annotations

import csv
import json
from typing import TYPE_CHECKING, Any, TextIO

from resnet_cli.escape import display_path, printable, redact
from resnet_cli.records import Record

if TYPE_CHECKING:
    from rich.console import Console

FORMATS = ("table", "json", "jsonl", "csv", "tsv")


def record_dict(record: Record) -> dict[str, Any]:
    path = display_path(record.path)
    if record.error is not None:
        return {"path": path, "error": redact(record.error)}
    return {
        "path": path,
        "model": record.model,
        "predictions": [
            {"rank": p.rank, "index": p.index, "wnid": p.wnid, "label": p.label,
             "probability": p.probability}
            for p in record.predictions or []
        ],
    }


class Writer:
    """Base writer: subclasses implement ``write``; ``close`` ends the document."""

    def __init__(self, stream: TextIO, topk: int) -> None:
        self.stream = stream
        self.topk = topk

    def write(self, record: Record) -> None:
        raise NotImplementedError

    def close(self) -> None:
        self.stream.flush()

    def _emit(self, text: str) -> None:
        self.stream.write(text)
        self.stream.flush()


class JsonLinesWriter(Writer):
    def write(self, record: Record) -> None:
        self._emit(json.dumps(record_dict(record), ensure_ascii=False) + "\n")


class JsonWriter(Writer):
    """A JSON array, streamed element by element (valid once closed)."""

    def __init__(self, stream: TextIO, topk: int) -> None:
        super().__init__(stream, topk)
        self._count = 0

    def write(self, record: Record) -> None:
        lead = "[\n  " if self._count == 0 else ",\n  "
        self._count += 1
        self._emit(lead + json.dumps(record_dict(record), ensure_ascii=False))

    def close(self) -> None:
        self._emit("[]\n" if self._count == 0 else "\n]\n")


_CSV_QUOTED = "\t\n\r"  # the csv module quotes these; other control characters are escaped


class DelimitedWriter(Writer):
    """CSV or TSV with a header; the csv module quotes commas, tabs, quotes and newlines."""

    def __init__(self, stream: TextIO, topk: int, delimiter: str) -> None:
        super().__init__(stream, topk)
        self._csv = csv.writer(stream, delimiter=delimiter, lineterminator="\n")
        header = ["path", "model", "error"]
        for i in range(1, topk + 1):
            header += [f"label_{i}", f"probability_{i}"]
        self._csv.writerow(header)

    def write(self, record: Record) -> None:
        row = [record.path, record.model if record.error is None else "", record.error or ""]
        for p in record.predictions or []:
            row += [p.label, repr(p.probability)]
        row = [printable(cell, keep=_CSV_QUOTED) for cell in row]
        self._csv.writerow(row)
        self.stream.flush()


class TextWriter(Writer):
    """Plain aligned text for pipes: the path, then one indented line per prediction."""

    def write(self, record: Record) -> None:
        path = printable(record.path)
        if record.error is not None:
            self._emit(f"{path}: error: {printable(record.error)}\n")
            return
        lines = [f"{path}"]
        labels = [printable(p.label) for p in record.predictions or []]
        width = max(map(len, labels), default=0)
        for p, label in zip(record.predictions or [], labels, strict=True):
            lines.append(f"  {p.rank:>2}  {label:<{width}}  {p.probability:.4f}")
        self._emit("\n".join(lines) + "\n")


class TableWriter(Writer):
    """A rich table per image, for a person at a terminal (rich is imported only here)."""

    def __init__(self, stream: TextIO, topk: int, console: Console | None = None) -> None:
        from rich.console import Console

        super().__init__(stream, topk)
        self.console = console or Console(file=stream)

    def write(self, record: Record) -> None:
        from rich.markup import escape
        from rich.table import Table
        from rich.text import Text

        path = printable(record.path)
        if record.error is not None:
            self.console.print(f"[bold]{escape(path)}[/]: [red]error:[/] "
                               f"{escape(printable(record.error))}", highlight=False,
                               soft_wrap=True)
            return
        # The path on a line of its own, never folded by rich: a table title would break
        # a long name wherever the table's width ends.
        self.console.print(Text(path, style="bold"), soft_wrap=True)
        table = Table()
        table.add_column("#", justify="right", style="dim")
        table.add_column("label")
        table.add_column("wnid", style="dim")
        table.add_column("probability", justify="right")
        for p in record.predictions or []:
            table.add_row(str(p.rank), Text(printable(p.label)), Text(printable(p.wnid)),
                          f"{p.probability:.4f}")
        self.console.print(table)


def make_writer(fmt: str, stream: TextIO, topk: int, terminal: bool) -> Writer:
    """The writer for ``fmt``; ``table`` means rich on a terminal, aligned text otherwise."""
    if fmt == "json":
        return JsonWriter(stream, topk)
    if fmt == "jsonl":
        return JsonLinesWriter(stream, topk)
    if fmt in ("csv", "tsv"):
        return DelimitedWriter(stream, topk, "," if fmt == "csv" else "\t")
    if fmt == "table":
        return TableWriter(stream, topk) if terminal else TextWriter(stream, topk)
    raise ValueError(f"unknown format {fmt!r}")
