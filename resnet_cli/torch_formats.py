"""Read PyTorch ``.pth`` and ``.safetensors`` state dicts into numpy, without torch.

A ``.pth`` is a zip holding ``data.pkl`` (the pickled dict) and one raw file per tensor
storage.  We unpickle it with an allow-list of exactly what a state dict of dense tensors
needs (``OrderedDict``, the storage types, ``_rebuild_tensor_v2``); anything else, such as
a pickle that would call ``os.system``, is refused before it can run.  ``.safetensors`` is a
JSON header followed by raw little-endian tensor bytes.
"""

from __future__ import annotations

import collections
import json
import struct
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from resnet_cli.errors import ResnetError
from resnet_cli.safe_pickle import RestrictedUnpickler, UnsafePickleError

StateDict = dict[str, np.ndarray]

_STORAGE_DTYPES = {
    "DoubleStorage": np.float64, "FloatStorage": np.float32, "HalfStorage": np.float16,
    "LongStorage": np.int64, "IntStorage": np.int32, "ShortStorage": np.int16,
    "CharStorage": np.int8, "ByteStorage": np.uint8, "BoolStorage": np.bool_,
}
_SAFETENSORS_DTYPES = {
    "F64": np.float64, "F32": np.float32, "F16": np.float16, "I64": np.int64,
    "I32": np.int32, "I16": np.int16, "I8": np.int8, "U8": np.uint8, "BOOL": np.bool_,
}


class _StorageType:
    """Stands in for ``torch.FloatStorage`` and friends: only carries the dtype."""

    def __init__(self, dtype: type) -> None:
        self.dtype = np.dtype(dtype)


def _rebuild_tensor_v2(storage: np.ndarray, offset: int, size: tuple[int, ...],
                       stride: tuple[int, ...], *_ignored: Any) -> np.ndarray:
    if not size:
        return np.array(storage[offset])
    needed = offset + sum((s - 1) * st for s, st in zip(size, stride, strict=True)) + 1
    if needed > storage.size:
        raise ResnetError("corrupt .pth: a tensor reaches past its storage")
    view = np.lib.stride_tricks.as_strided(
        storage[offset:], shape=size, strides=[st * storage.itemsize for st in stride])
    return np.array(view)


def _rebuild_parameter(data: np.ndarray, *_ignored: Any) -> np.ndarray:
    return data


_PTH_GLOBALS: dict[tuple[str, str], Any] = {
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor_v2,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    **{("torch", name): _StorageType(dtype) for name, dtype in _STORAGE_DTYPES.items()},
}


def read_pth(path: Path) -> StateDict:
    """A torch ``state_dict`` saved with ``torch.save`` (zip format) as numpy arrays."""
    try:
        archive = zipfile.ZipFile(path)
    except zipfile.BadZipFile:
        raise ResnetError(f"{path}: not a zip-format .pth (saved by torch >= 1.6)") from None
    with archive:
        pickles = [n for n in archive.namelist() if n.endswith("/data.pkl") or n == "data.pkl"]
        if len(pickles) != 1:
            raise ResnetError(f"{path}: no data.pkl inside; not a torch.save file")
        prefix = pickles[0][: -len("data.pkl")]
        order = f"{prefix}byteorder"
        if order in archive.namelist() and archive.read(order).strip() != b"little":
            raise ResnetError(f"{path}: big-endian tensors are not supported")

        def load_storage(pid: Any) -> np.ndarray:
            if not (isinstance(pid, tuple) and len(pid) == 5 and pid[0] == "storage"
                    and isinstance(pid[1], _StorageType)):
                raise UnsafePickleError(f"unexpected persistent id {pid!r:.60}")
            _, kind, key, _location, numel = pid
            raw = archive.read(f"{prefix}data/{key}")
            return np.frombuffer(raw, dtype=kind.dtype, count=int(numel))

        try:
            with archive.open(pickles[0]) as f:
                obj = RestrictedUnpickler(f, _PTH_GLOBALS, persistent_load=load_storage).load()
        except UnsafePickleError as exc:
            raise ResnetError(f"{path}: refused, {exc}") from None
        except (KeyError, ValueError, EOFError, TypeError) as exc:
            raise ResnetError(f"{path}: corrupt .pth ({exc})") from None
    return _state_dict(obj, path)


def _state_dict(obj: Any, path: Path) -> StateDict:
    if isinstance(obj, dict) and "state_dict" in obj and isinstance(obj["state_dict"], dict):
        obj = obj["state_dict"]  # a training checkpoint wrapping the weights
    if not isinstance(obj, dict) or not all(isinstance(v, np.ndarray) for v in obj.values()):
        raise ResnetError(f"{path}: not a state dict of tensors")
    return dict(obj)


def read_safetensors(path: Path) -> StateDict:
    data = path.read_bytes()
    if len(data) < 8:
        raise ResnetError(f"{path}: too short to be .safetensors")
    (length,) = struct.unpack("<Q", data[:8])
    try:
        header = json.loads(data[8:8 + length])
    except (ValueError, UnicodeDecodeError):
        raise ResnetError(f"{path}: not a .safetensors file (bad header)") from None
    body = memoryview(data)[8 + length:]
    tensors = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        dtype = _SAFETENSORS_DTYPES.get(info.get("dtype"))
        if dtype is None:
            raise ResnetError(f"{path}: tensor {name} has unsupported dtype {info.get('dtype')}")
        begin, end = info["data_offsets"]
        if not 0 <= begin <= end <= len(body):
            raise ResnetError(f"{path}: tensor {name} lies outside the file")
        array = np.frombuffer(body[begin:end], dtype=np.dtype(dtype).newbyteorder("<"))
        tensors[name] = array.reshape(info["shape"]).astype(dtype)
    return tensors
