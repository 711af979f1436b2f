"""Hand-made weight files for the hostile-weights tests: no torch needed to craft them.

``pth`` assembles the pickle opcode by opcode, so a test can write exactly the storage
declarations and tensor views (offsets, sizes, strides) that torch itself would never emit.
"""

from __future__ import annotations

import io
import json
import struct
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np


def _text(s: str) -> bytes:
    data = s.encode()
    return b"X" + struct.pack("<I", len(data)) + data


def _int(i: int) -> bytes:
    if -(2**31) <= i < 2**31:
        return b"J" + struct.pack("<i", i)
    data = i.to_bytes((i.bit_length() + 8) // 8, "little", signed=True)
    return b"\x8a" + bytes([len(data)]) + data


def _tuple(items: list[bytes]) -> bytes:
    return b"(" + b"".join(items) + b"t"


def _global(module: str, name: str) -> bytes:
    return f"c{module}\n{name}\n".encode()


def value(obj: object) -> bytes:
    """Opcodes for a str, int, tuple or list of those (or raw opcodes as bytes)."""
    if isinstance(obj, bytes):
        return obj
    if isinstance(obj, str):
        return _text(obj)
    if isinstance(obj, bool) or obj is None:
        return {True: b"\x88", False: b"\x89", None: b"N"}[obj]
    if isinstance(obj, int):
        return _int(obj)
    if isinstance(obj, tuple | list):
        return _tuple([value(v) for v in obj])
    raise TypeError(obj)


@dataclass
class View:
    """One tensor: a view into storage ``key`` (declared with ``numel`` elements)."""

    key: str
    offset: int
    size: tuple[int, ...]
    stride: tuple[int, ...]
    numel: int
    storage: str = "FloatStorage"


def tensor(view: View) -> bytes:
    pid = _tuple([value("storage"), _global("torch", view.storage), value(view.key),
                  value("cpu"), value(view.numel)]) + b"Q"
    empty = _global("collections", "OrderedDict") + b")R"
    return (_global("torch._utils", "_rebuild_tensor_v2")
            + _tuple([pid, value(view.offset), value(view.size), value(view.stride),
                      b"\x89", empty]) + b"R")


def state_dict(items: dict[object, bytes]) -> bytes:
    """A pickled OrderedDict of opcodes-per-value (keys may be any ``value``)."""
    body = b"".join(value(k) + v for k, v in items.items())
    return b"\x80\x02" + _global("collections", "OrderedDict") + b")R(" + body + b"u."


@dataclass
class Pth:
    """The members of a torch.save zip: ``data.pkl`` and raw storages."""

    pickle: bytes
    storages: dict[str, bytes] = field(default_factory=dict)
    prefix: str = "archive"
    compression: int = zipfile.ZIP_STORED

    def bytes(self) -> bytes:
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as archive:
            archive.writestr(f"{self.prefix}/data.pkl", self.pickle)
            archive.writestr(f"{self.prefix}/byteorder", "little")
            for key, data in self.storages.items():
                archive.writestr(f"{self.prefix}/data/{key}", data,
                                 compress_type=self.compression)
            archive.writestr(f"{self.prefix}/version", "3\n")
        return buf.getvalue()

    def write(self, path: Path) -> Path:
        path.write_bytes(self.bytes())
        return path


def floats(n: int, start: float = 0.0) -> bytes:
    return np.arange(start, start + n, dtype="<f4").tobytes()


def one_tensor_pth(view: View, storage: bytes, name: str = "fc.bias") -> Pth:
    return Pth(state_dict({name: tensor(view)}), {view.key: storage})


def safetensors(header: object, body: bytes = b"", raw_header: bytes | None = None) -> bytes:
    text = raw_header if raw_header is not None else json.dumps(header).encode()
    return struct.pack("<Q", len(text)) + text + body


def one_line(text: str) -> str:
    """The single line of ``text``; fails (with the text) if there is not exactly one."""
    lines = text.strip().splitlines()
    assert len(lines) == 1, text
    assert "Traceback" not in text, text
    return lines[0]


def cache_leftovers(cache: Path) -> list[str]:
    """Temporary files a failed operation left in the cache (locks are expected)."""
    if not cache.exists():
        return []
    return sorted(p.name for p in cache.iterdir() if not p.name.endswith(".lock"))


def raw_zip(members: list[tuple[str, int, bytes, int, int]], flags: int = 0) -> bytes:
    """A zip written by hand: (name, method, stored bytes, crc, declared size) per member.

    zipfile cannot write an entry whose declared size differs from its data or whose
    method it does not know; hostile archives need both.
    """
    local, central = b"", b""
    for name, method, data, crc, size in members:
        encoded = name.encode()
        fields = struct.pack("<HHHHHIII", 20, flags, method, 0, 0x21, crc, len(data), size)
        central += (b"PK\x01\x02" + struct.pack("<H", 20) + fields
                    + struct.pack("<HHHHHII", len(encoded), 0, 0, 0, 0, 0, len(local))
                    + encoded)
        local += b"PK\x03\x04" + fields + struct.pack("<HH", len(encoded), 0) + encoded + data
    end = struct.pack("<4sHHHHIIH", b"PK\x05\x06", 0, 0, len(members), len(members),
                      len(central), len(local), 0)
    return local + central + end


def deflated_zeros(size: int, chunk: int = 16 << 20) -> bytes:
    """Raw deflate of ``size`` zero bytes, built in a blink: after a full flush the
    compressor forgets its history, so every further chunk compresses to the same block."""
    assert size % chunk == 0
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    zeros = bytes(chunk)
    first = compressor.compress(zeros) + compressor.flush(zlib.Z_FULL_FLUSH)
    block = compressor.compress(zeros) + compressor.flush(zlib.Z_FULL_FLUSH)
    return first + block * (size // chunk - 1) + compressor.flush()


def pickle_member(pickle_bytes: bytes, prefix: str = "archive") -> tuple[str, int, bytes,
                                                                         int, int]:
    return (f"{prefix}/data.pkl", 0, pickle_bytes, zlib.crc32(pickle_bytes), len(pickle_bytes))
