"""Read PyTorch ``.pth`` and ``.safetensors`` state dicts into numpy, without torch.

Both readers treat the file as hostile and are memory-safe by construction:

* A ``.pth`` is a zip holding ``data.pkl`` (the pickled dict) and one raw file per tensor
  storage.  The pickle is loaded with an allow-list of exactly what a state dict of dense
  tensors needs (``OrderedDict``, the storage types, ``_rebuild_tensor_v2``), sealed so the
  pickle cannot modify them; anything else, such as a pickle that would call
  ``os.system``, is refused before it can run.  Each storage's declared size is checked
  against the zip's directory (and the archive's size) before anything is read, and each
  tensor view (offset, sizes, strides) is checked against its storage, in Python
  integers, before a single byte is copied.
* ``.safetensors`` is a JSON header followed by raw little-endian tensor bytes; the header
  is validated completely (types, dtypes, shapes, offsets in range, contiguous and
  non-overlapping, covering the data) before any tensor is built.

Every malformed file is one :class:`ResnetError` naming the file and the problem.
"""

from __future__ import annotations

import collections
import json
import math
import struct
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn

import numpy as np

from resnet_cli.errors import ResnetError
from resnet_cli.safe_pickle import RestrictedUnpickler, Sealed, UnsafePickleError

StateDict = dict[str, np.ndarray]

MAX_PICKLE_BYTES = 64 << 20  # a ResNet-152 state dict pickles to well under 1 MB
# Storages are stored uncompressed by torch.save; even a deflated one of float weights
# shrinks little.  All storages together may declare at most this many times the
# archive's size (plus a little for all-zero buffers): a zip bomb is refused unread.
MAX_EXPANSION = 16
EXPANSION_SLACK = 1 << 20
MAX_DIMS = 32  # numpy's limit

_STORAGE_DTYPES = {
    "DoubleStorage": np.float64, "FloatStorage": np.float32, "HalfStorage": np.float16,
    "LongStorage": np.int64, "IntStorage": np.int32, "ShortStorage": np.int16,
    "CharStorage": np.int8, "ByteStorage": np.uint8, "BoolStorage": np.bool_,
}
_SAFETENSORS_DTYPES = {
    "F64": np.float64, "F32": np.float32, "F16": np.float16, "I64": np.int64,
    "I32": np.int32, "I16": np.int16, "I8": np.int8, "U8": np.uint8, "BOOL": np.bool_,
}


class _Corrupt(Exception):
    """A structural problem found while reading; becomes ``ResnetError`` with the path."""


def _refuse(problem: str) -> NoReturn:
    raise _Corrupt(problem)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _int_tuple(value: Any, what: str) -> tuple[int, ...]:
    if not (isinstance(value, tuple | list) and len(value) <= MAX_DIMS
            and all(_is_int(v) and v >= 0 for v in value)):
        _refuse(f"{what} {_short(value)} is not a list of non-negative integers")
    return tuple(value)


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


class _StorageType:
    """Stands in for ``torch.FloatStorage`` and friends: only carries the dtype."""

    __slots__ = ("dtype",)

    def __init__(self, dtype: type) -> None:
        object.__setattr__(self, "dtype", np.dtype(dtype).newbyteorder("<"))

    def __setattr__(self, name: str, value: Any) -> None:
        raise UnsafePickleError("the pickle tries to modify a storage type")

    def __setstate__(self, state: Any) -> None:
        raise UnsafePickleError("the pickle tries to modify a storage type")


class _Storage:
    """One storage of the archive, validated against the zip directory, read on demand."""

    __slots__ = ("_archive", "_data", "dtype", "info", "key", "numel")

    def __init__(self, archive: zipfile.ZipFile, info: zipfile.ZipInfo, key: str,
                 dtype: np.dtype, numel: int) -> None:
        self._archive, self.info, self.key = archive, info, key
        self.dtype, self.numel = dtype, numel
        self._data: np.ndarray | None = None

    def __setstate__(self, state: Any) -> None:
        raise UnsafePickleError("the pickle tries to modify a storage")

    def array(self) -> np.ndarray:
        if self._data is None:
            with self._archive.open(self.info) as member:  # the CRC is checked at the end
                raw = member.read(self.info.file_size + 1)
            if len(raw) != self.info.file_size:
                _refuse(f"storage {self.key!r} holds {len(raw)} bytes, not the declared "
                        f"{self.info.file_size}")
            self._data = np.frombuffer(raw, dtype=self.dtype)
        return self._data


def _rebuild_tensor_v2(storage: Any, offset: Any, size: Any, stride: Any,
                       *_ignored: Any) -> np.ndarray:
    """The tensor ``storage[offset]`` viewed with ``size``/``stride``, proven in bounds."""
    if not isinstance(storage, _Storage):
        _refuse("a tensor is built on something that is not a storage")
    if not _is_int(offset) or offset < 0:
        _refuse(f"tensor offset {_short(offset)} is not a non-negative integer")
    size, stride = _int_tuple(size, "tensor size"), _int_tuple(stride, "tensor stride")
    if len(size) != len(stride):
        _refuse(f"tensor size {size} and stride {stride} differ in length")
    count = math.prod(size)
    if count == 0:
        return np.zeros(size, storage.dtype.newbyteorder("="))
    if count > storage.numel:
        _refuse(f"a tensor of {count} elements views a storage of {storage.numel}")
    last = offset + sum((s - 1) * st for s, st in zip(size, stride, strict=True))
    if last >= storage.numel:
        _refuse(f"a tensor (offset {offset}, size {size}, stride {stride}) reaches "
                f"element {last} of a storage of {storage.numel}")
    data = storage.array()
    itemsize = data.itemsize
    view = np.lib.stride_tricks.as_strided(data[offset:], shape=size,
                                           strides=[st * itemsize for st in stride])
    return view.astype(data.dtype.newbyteorder("="))  # a copy, in native byte order


def _rebuild_parameter(data: Any, *_ignored: Any) -> np.ndarray:
    if not isinstance(data, np.ndarray):
        _refuse("a parameter wraps something that is not a tensor")
    return data


_PTH_GLOBALS: dict[tuple[str, str], Any] = {
    ("collections", "OrderedDict"): Sealed(collections.OrderedDict),
    ("torch._utils", "_rebuild_tensor_v2"): Sealed(_rebuild_tensor_v2),
    ("torch._utils", "_rebuild_parameter"): Sealed(_rebuild_parameter),
    **{("torch", name): _StorageType(dtype) for name, dtype in _STORAGE_DTYPES.items()},
}


class _PthArchive:
    """The zip of a ``torch.save`` file: its members checked before anything is read."""

    def __init__(self, archive: zipfile.ZipFile, size: int) -> None:
        self.archive = archive
        self.budget = MAX_EXPANSION * size + EXPANSION_SLACK  # bytes all storages may hold
        pickles = [i for i in archive.infolist()
                   if i.filename.endswith("/data.pkl") or i.filename == "data.pkl"]
        if len(pickles) != 1:
            _refuse("no single data.pkl inside; not a torch.save file")
        self.pickle = self.member(pickles[0].filename, MAX_PICKLE_BYTES)
        self.prefix = pickles[0].filename[: -len("data.pkl")]
        self.storages: dict[str, _Storage] = {}

    def member(self, name: str, limit: int) -> zipfile.ZipInfo:
        """The zip entry ``name``, refused if it is unreadable or larger than ``limit``."""
        try:
            info = self.archive.getinfo(name)
        except KeyError:
            _refuse(f"{name!r} is missing from the archive")
        if info.flag_bits & 0x1:
            _refuse(f"{name!r} is encrypted")
        if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            _refuse(f"{name!r} uses unsupported zip compression {info.compress_type}")
        if info.file_size > limit:
            _refuse(f"{name!r} declares {info.file_size} bytes (more than {limit}; "
                    f"a zip bomb?)")
        if info.compress_type == zipfile.ZIP_STORED and info.compress_size != info.file_size:
            _refuse(f"{name!r} declares {info.file_size} bytes but stores "
                    f"{info.compress_size}")
        return info

    def check_byteorder(self) -> None:
        name = f"{self.prefix}byteorder"
        if name in self.archive.namelist():
            order = self.archive.read(self.member(name, 16)).strip()
            if order != b"little":
                _refuse("big-endian tensors are not supported")

    def storage(self, pid: Any) -> _Storage:
        """``persistent_load``: the storage a tensor refers to, checked, not yet read."""
        if not (isinstance(pid, tuple) and len(pid) == 5 and pid[0] == "storage"
                and isinstance(pid[1], _StorageType)):
            raise UnsafePickleError(f"unexpected persistent id {_short(pid)}")
        _, kind, key, _location, numel = pid
        if not isinstance(key, str) or not _is_int(numel) or numel < 0:
            _refuse(f"bad storage declaration {_short(pid)}")
        if (known := self.storages.get(key)) is not None:
            if (known.dtype, known.numel) != (kind.dtype, numel):
                _refuse(f"storage {key!r} is declared twice, differently")
            return known
        nbytes = numel * kind.dtype.itemsize
        info = self.member(f"{self.prefix}data/{key}", self.budget)
        if info.file_size != nbytes:
            _refuse(f"storage {key!r} declares {numel} x {kind.dtype.itemsize} bytes but "
                    f"its file holds {info.file_size}")
        self.budget -= nbytes
        self.storages[key] = _Storage(self.archive, info, key, kind.dtype, numel)
        return self.storages[key]

    def load(self) -> Any:
        self.check_byteorder()
        with self.archive.open(self.pickle) as f:
            return RestrictedUnpickler(f, _PTH_GLOBALS, persistent_load=self.storage).load()


def read_pth(path: Path) -> StateDict:
    """A torch ``state_dict`` saved with ``torch.save`` (zip format) as numpy arrays."""
    return _state_dict(_guarded(path, ".pth", lambda: _load_pth(path)), path)


def _load_pth(path: Path) -> Any:
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, EOFError):
        _refuse("not a zip-format .pth (saved by torch >= 1.6)")
    with archive:
        return _PthArchive(archive, path.stat().st_size).load()


def _guarded(path: Path, kind: str, read: Callable[[], Any]) -> Any:
    """Run ``read``, turning every failure into one ResnetError line about ``path``."""
    try:
        return read()
    except _Corrupt as exc:
        problem = str(exc)
    except UnsafePickleError as exc:
        problem = f"refused, {exc}"
    except OSError as exc:
        raise ResnetError(f"{path}: cannot read ({exc.strerror or exc})") from None
    except Exception as exc:  # hostile input: any other failure means "corrupt"
        problem = f"corrupt {kind} ({type(exc).__name__}: {exc})"
    raise ResnetError(f"{path}: {' '.join(problem.split())}") from None


def _state_dict(obj: Any, path: Path) -> StateDict:
    if isinstance(obj, dict) and "state_dict" in obj and isinstance(obj["state_dict"], dict):
        obj = obj["state_dict"]  # a training checkpoint wrapping the weights
    if not isinstance(obj, dict):
        raise ResnetError(f"{path}: not a state dict of tensors")
    for key, value in obj.items():
        if not isinstance(key, str):
            raise ResnetError(f"{path}: not a state dict of tensors "
                              f"(key {_short(key)} is not a name)")
        if not isinstance(value, np.ndarray):
            raise ResnetError(f"{path}: not a state dict of tensors ({key!r} is a "
                              f"{type(value).__name__})")
    return dict(obj)


def read_safetensors(path: Path) -> StateDict:
    """A ``.safetensors`` file as numpy arrays, its header validated first."""
    return _guarded(path, ".safetensors", lambda: _load_safetensors(path.read_bytes()))


MAX_HEADER_BYTES = 100 << 20  # the format's own limit


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        _refuse("the header names a key twice")
    return result


def _load_safetensors(data: bytes) -> StateDict:
    if len(data) < 8:
        _refuse("too short to be .safetensors")
    (length,) = struct.unpack("<Q", data[:8])
    if length > min(len(data) - 8, MAX_HEADER_BYTES):
        _refuse(f"header length {length} exceeds the file")
    try:
        header = json.loads(data[8:8 + length].decode("utf-8"),
                            object_pairs_hook=_unique_keys)
    except (ValueError, RecursionError):
        _refuse("not a .safetensors file (the header is not JSON)")
    if not isinstance(header, dict):
        _refuse(f"the header is a JSON {type(header).__name__}, not an object")
    body = memoryview(data)[8 + length:]
    metadata = header.pop("__metadata__", {})
    if not isinstance(metadata, dict):
        _refuse("__metadata__ is not an object")
    entries = {name: _entry(name, info) for name, info in header.items()}
    _check_layout(entries, len(body))
    return {name: np.frombuffer(body, dtype, count=math.prod(shape), offset=begin)
            .reshape(shape).astype(dtype.newbyteorder("="))
            for name, (dtype, shape, begin, _end) in entries.items()}


def _entry(name: str, info: Any) -> tuple[np.dtype, tuple[int, ...], int, int]:
    """One header entry as (dtype, shape, begin, end), every field checked."""
    if not isinstance(info, dict):
        _refuse(f"tensor {name!r}: entry is not an object")
    missing = {"dtype", "shape", "data_offsets"} - info.keys()
    if missing:
        _refuse(f"tensor {name!r}: no {', '.join(sorted(missing))}")
    kind = info["dtype"]
    if not isinstance(kind, str) or kind not in _SAFETENSORS_DTYPES:
        _refuse(f"tensor {name!r} has unsupported dtype {_short(kind)}")
    dtype = np.dtype(_SAFETENSORS_DTYPES[kind]).newbyteorder("<")
    shape = _int_tuple(info["shape"], f"tensor {name!r}: shape")
    offsets = info["data_offsets"]
    if not (isinstance(offsets, list) and len(offsets) == 2 and all(map(_is_int, offsets))
            and 0 <= offsets[0] <= offsets[1]):
        _refuse(f"tensor {name!r}: data_offsets {_short(offsets)} are not two ordered "
                f"non-negative integers")
    begin, end = offsets
    if end - begin != math.prod(shape) * dtype.itemsize:
        _refuse(f"tensor {name!r}: shape {list(shape)} of {kind} needs "
                f"{math.prod(shape) * dtype.itemsize} bytes, data_offsets give {end - begin}")
    return dtype, shape, begin, end


def _check_layout(entries: dict[str, tuple[np.dtype, tuple[int, ...], int, int]],
                  body: int) -> None:
    """Tensors must tile the data exactly: no gap, no overlap, nothing past the end."""
    position = 0
    for name, (_dtype, _shape, begin, end) in sorted(entries.items(),
                                                     key=lambda e: (e[1][2], e[1][3])):
        if begin != position:
            problem = "overlaps the previous tensor" if begin < position else "leaves a gap"
            _refuse(f"tensor {name!r} at bytes {begin}-{end} {problem}")
        position = end
    if position != body:
        _refuse(f"the tensors cover {position} bytes of data, the file holds {body}")
