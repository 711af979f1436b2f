"""An unpickler that admits only an explicit allow-list of globals.

Weight files arrive as pickles (``.pth``, the SqueezeNet ``.pkl``).  A plain
``pickle.load`` would run whatever callable the file names; this one refuses any global
that is not on the caller's list, so a malicious file fails instead of running code.
"""

from __future__ import annotations

import io
import pickle
import pickletools
from collections.abc import Callable, Mapping
from typing import IO, Any

import numpy as np

# What a pickled dict of numpy arrays needs, and nothing more.
NUMPY_ARRAY_GLOBALS: Mapping[tuple[str, str], Any] = {
    ("numpy.core.multiarray", "_reconstruct"): np.core.multiarray._reconstruct,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
}


class UnsafePickleError(ValueError):
    """The pickle names a global outside the allow-list, or tries to modify one."""


class Sealed:
    """An allowed callable that the pickle can call but not modify.

    The BUILD opcode sets attributes on whatever object is on the stack; applied to a
    shared global it would change it for every later load in the process.  A sealed
    callable has no ``__dict__`` and refuses ``__setstate__``.
    """

    __slots__ = ("_call",)

    def __init__(self, call: Callable[..., Any]) -> None:
        object.__setattr__(self, "_call", call)

    def __call__(self, *args: Any) -> Any:
        return self._call(*args)

    def __setattr__(self, name: str, value: Any) -> None:
        raise UnsafePickleError("the pickle tries to modify a loader object")

    def __setstate__(self, state: Any) -> None:
        raise UnsafePickleError("the pickle tries to modify a loader object")


def check_memo(data: bytes) -> None:
    """Refuse memo indices no pickler would write.

    CPython's unpickler grows its memo table to the largest index a PUT names, so a
    300-byte pickle naming index 174,417,761 made it allocate 1.4 GB (found by
    fuzz/run.py).  A pickler numbers its memo entries from 0, one per opcode at most, so
    an index beyond the opcodes read so far is hostile.
    """
    try:
        for count, (op, arg, _pos) in enumerate(pickletools.genops(data), start=1):
            if op.name in _PUTS and arg >= count:
                raise UnsafePickleError(f"memo index {arg} at opcode {count}: not a real pickle")
    except UnsafePickleError:
        raise
    except ValueError as exc:  # pickletools' word for a broken opcode stream
        raise pickle.UnpicklingError(str(exc)) from None


_PUTS = frozenset({"PUT", "BINPUT", "LONG_BINPUT"})


class RestrictedUnpickler(pickle.Unpickler):
    """Reads the whole pickle first (callers bound its size) to check its memo indices."""

    def __init__(self, file: IO[bytes], allowed: Mapping[tuple[str, str], Any],
                 persistent_load: Callable[[Any], Any] | None = None, **kwargs: Any) -> None:
        data = file.read()
        check_memo(data)
        super().__init__(io.BytesIO(data), **kwargs)
        self._allowed = allowed
        self._persistent_load = persistent_load

    def find_class(self, module: str, name: str) -> Any:
        try:
            return self._allowed[(module, name)]
        except KeyError:
            raise UnsafePickleError(
                f"refusing to load {module}.{name}: not something a weights file needs"
            ) from None

    def persistent_load(self, pid: Any) -> Any:
        if self._persistent_load is None:
            raise UnsafePickleError("unexpected persistent id in pickle")
        return self._persistent_load(pid)
