"""Exit codes and the errors the CLI turns into one line of text and one of those codes.

Stdlib only: ``resnet --help`` renders its epilog from :class:`ExitCode`.
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """Every status ``resnet`` exits with; ``--help`` and README's table list these."""

    OK = 0
    SOME_FAILED = 1
    SETUP = 2
    OUTPUT = 74  # sysexits.h EX_IOERR: the records could not be written
    INTERRUPTED = 130
    BROKEN_PIPE = 141
    TERMINATED = 143

    @property
    def meaning(self) -> str:
        return _MEANINGS[self]


_MEANINGS = {
    ExitCode.OK: "every input classified",
    ExitCode.SOME_FAILED:
        "some inputs failed (each has an error record; the rest are classified)",
    ExitCode.SETUP: "usage or setup error (bad option, unknown model, missing weights, ...)",
    ExitCode.INTERRUPTED: "interrupted (Ctrl-C); records already written are kept",
    ExitCode.OUTPUT: "output could not be written (disk full, /dev/full, stdout closed)",
    ExitCode.BROKEN_PIPE: "output closed early (e.g. piped into `head`); ends quietly",
    ExitCode.TERMINATED:
        "terminated (SIGTERM); records already written are kept, a json array closed",
}


def exit_codes_help() -> str:
    """The ``Exit codes:`` epilog of every command that classifies (``\\b``: no rewrap)."""
    rows = "".join(f"  {code.value:<4} {code.meaning}\n" for code in ExitCode)
    return f"\b\nExit codes:\n{rows}"


class ResnetError(Exception):
    """A setup or usage problem the user can fix; printed without a traceback (exit 2).

    ``reason`` is the cause without the context the message adds (which file, which
    model), for callers that re-word the message.
    """

    exit_code = ExitCode.SETUP

    def __init__(self, message: str, reason: str | None = None) -> None:
        super().__init__(message)
        self.reason = message if reason is None else reason


class OutputError(ResnetError):
    """stdout cannot be written (full disk, /dev/full, closed): one line, exit 74."""

    exit_code = ExitCode.OUTPUT


class InputError(Exception):
    """One input could not be classified; it becomes an error record, the run goes on."""
