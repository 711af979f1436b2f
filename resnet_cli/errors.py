"""Errors that the CLI turns into one line of text and a documented exit code."""

from __future__ import annotations

EXIT_OK = 0
EXIT_SOME_FAILED = 1
EXIT_SETUP = 2
EXIT_INTERRUPTED = 130


class ResnetError(Exception):
    """A setup or usage problem the user can fix; printed without a traceback (exit 2)."""

    exit_code = EXIT_SETUP


class InputError(Exception):
    """One input could not be classified; it becomes an error record, the run goes on."""
