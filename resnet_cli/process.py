"""The ``resnet`` process and its surroundings: signals, a failing stdout, warnings.

:func:`main` is the console entry point.  It installs its signal handlers before anything
but the standard library is imported, so Ctrl-C at any moment of start-up ends in one
line, never a traceback.  What it promises:

- Ctrl-C (exit 130) and SIGTERM (exit 143) raise in the main thread, so every ``finally``
  runs (a ``-f json`` array is closed) and records already written stay whole; the process
  is gone within :data:`GRACE_S` seconds of the signal whatever a worker thread is doing.
- A stdout that cannot be written (``> /dev/full``, a disk filling up, ``>&-``) ends the
  run with one line and exit 74, never a traceback; a reader that went away (``| head``)
  still ends quietly with 141.
- Pillow's warnings never reach stderr without the name of a file (:func:`quiet_decoders`).
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
import warnings
from collections.abc import Iterable, Iterator
from types import FrameType
from typing import Any, NoReturn, TextIO

from resnet_cli.errors import ExitCode, OutputError

GRACE_S = 1.8
"""After Ctrl-C or SIGTERM, the longest the process lets its threads wind down."""


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised in the main thread like Ctrl-C so that the same cleanup runs."""


def main() -> NoReturn:
    """The ``resnet`` command: guard the process, then run the Click group."""
    catch_signals()
    stdout_closed = sys.stdout is None  # started with fd 1 closed (>&-)
    _fill_closed_std_fds()
    try:
        if stdout_closed:  # nowhere to write records
            raise OutputError("writing output: stdout is closed")
        sys.stdout = GuardedStream(sys.stdout)
        quiet_decoders()
        from resnet_cli.cli import cli

        cli(prog_name="resnet")
        code: Any = 0
    except KeyboardInterrupt as exc:  # while starting up, before the command took over
        say(interrupt_message(exc))
        code = signal_exit_code(exc)
    except OutputError as exc:  # --help or --version into a full disk
        say(f"Error: {exc}")
        code = exc.exit_code
    except SystemExit as exc:
        code = exc.code
    finish(code)


def _fill_closed_std_fds() -> None:
    """Put /dev/null on a closed fd 0, 1 or 2 (``<&-``, ``2>&-``).

    Otherwise the next file opened takes that number: an image would be read as stdin, a
    weights file being written would receive whatever a library prints to fd 2.  A
    closed stdin reads as empty; stdout is checked by the caller.
    """
    for fd, name, mode in ((0, "stdin", "r"), (1, "stdout", "w"), (2, "stderr", "w")):
        try:
            os.fstat(fd)
        except OSError:
            if os.open(os.devnull, os.O_RDWR) != fd:  # the lowest free number: this one
                continue
            if name != "stdout":
                setattr(sys, name, open(fd, mode, closefd=False))  # noqa: SIM115


def finish(code: Any) -> NoReturn:
    """Flush stdout (a failure now is still one line and exit 74), then exit."""
    try:
        if sys.stdout is not None:
            sys.stdout.flush()
    except (OSError, OutputError) as exc:
        if code != ExitCode.OUTPUT:
            say(f"Error: {exc}")
            code = ExitCode.OUTPUT
        discard_stdout()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the work is done: no traceback now
    if _signal_received.is_set():
        # Every finally has run and stdout is flushed; a worker thread may still be inside
        # a decoder or a slow read, and the interpreter would wait for it: do not.
        _exit_now(code)
    sys.exit(code)


def say(line: str) -> None:
    """One line on stderr, if stderr can still take it."""
    with contextlib.suppress(OSError, ValueError, AttributeError):
        sys.stderr.write(line + "\n")
        sys.stderr.flush()


def discard_stdout() -> None:
    """Point fd 1 at /dev/null, so the interpreter's last flush cannot fail again."""
    with contextlib.suppress(OSError, ValueError, AttributeError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)


# --- signals -------------------------------------------------------------------------

_signal_received = threading.Event()


def catch_signals() -> None:
    """Ctrl-C and SIGTERM raise in the main thread; a signal the parent made us ignore
    (``nohup``, a shell's background job) stays ignored."""
    if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
        signal.signal(signal.SIGINT, _on_signal)
    if signal.getsignal(signal.SIGTERM) == signal.SIG_DFL:
        signal.signal(signal.SIGTERM, _on_signal)


def _on_signal(signum: int, _frame: FrameType | None) -> None:
    if _signal_received.is_set():
        return  # one is being handled; the deadline below ends the process anyway
    _signal_received.set()
    exc = Terminated() if signum == signal.SIGTERM else KeyboardInterrupt()
    deadline = threading.Timer(GRACE_S, _exit_now, (signal_exit_code(exc),))
    deadline.daemon = True
    deadline.start()
    raise exc


def _exit_now(code: int) -> None:
    """The main thread did not finish in time (a worker stuck in a read): leave anyway."""
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(code if isinstance(code, int) else 1)


def signal_exit_code(exc: KeyboardInterrupt) -> int:
    """128 + the signal's number, as shells report it: 130 for Ctrl-C, 143 for SIGTERM."""
    return 128 + (signal.SIGTERM if isinstance(exc, Terminated) else signal.SIGINT)


def interrupt_behind(exc: BaseException) -> KeyboardInterrupt | None:
    """The Ctrl-C or SIGTERM that ``exc`` was raised while unwinding from, if any.

    The signal raises at whatever bytecode the main thread is on, and can leave a library's
    state half-changed; that library's cleanup may then fail on the way out, replacing the
    interrupt with its own error. Seen in CI: Ctrl-C inside ``threading.Condition.wait``
    under Dask's ``as_completed`` became "RuntimeError: cannot release un-acquired lock"
    and a traceback with exit 1."""
    seen: BaseException | None = exc
    while seen is not None and not isinstance(seen, KeyboardInterrupt):
        seen = seen.__context__
    return seen


def interrupt_message(exc: KeyboardInterrupt) -> str:
    return "Terminated." if isinstance(exc, Terminated) else "Interrupted."


# --- stdout --------------------------------------------------------------------------

@contextlib.contextmanager
def _writing() -> Iterator[None]:
    try:
        yield
    except BrokenPipeError:
        raise  # the reader left (| head): the command line ends quietly with 141
    except OSError as exc:
        raise OutputError(f"writing output: {exc.strerror or exc}") from None


class GuardedStream:
    """``sys.stdout`` whose write errors are :class:`OutputError` (one line, exit 74)."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        with _writing():
            return self._stream.write(text)

    def writelines(self, lines: Iterable[str]) -> None:
        with _writing():
            self._stream.writelines(lines)

    def flush(self) -> None:
        with _writing():
            self._stream.flush()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


# --- warnings ------------------------------------------------------------------------

def quiet_decoders() -> None:
    """Pillow's warnings (damaged metadata it skips, odd palettes) are silenced: the file's
    record says whether it was classified, and stderr never gets a line naming no file.
    A decompression-bomb warning becomes an error, so that file is refused.

    Process-wide filters, set before any worker starts: ``warnings.catch_warnings`` in
    each decoding thread would race (it swaps the global filter list).
    """
    warnings.filterwarnings("ignore", module=r"PIL(\.|$)")
    warnings.filterwarnings("ignore", module=r"resnet_cli\.preprocess$")
    warnings.filterwarnings("error", message=r"Image size \(\d+ pixels\) exceeds limit")
