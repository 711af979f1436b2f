"""2 MB pages for the ``resnet`` process: the engines' big buffers then miss the TLB less.

Most Linux distributions (Debian, Ubuntu, Fedora) ship transparent huge pages in
``madvise`` mode: memory gets 2 MB pages only where the program asked for them, and
nothing in Python, MXNet, ONNX Runtime or OpenVINO asks. glibc 2.35+ asks on every
malloc'd block's behalf when ``GLIBC_TUNABLES`` holds ``glibc.malloc.hugetlb=1``, but it
reads that once, as the process starts. So the ``resnet`` command starts itself again,
once, with it added (:func:`relaunch`, a few ms): weights, activations and the runtimes'
arenas then sit on 2 MB pages. The gain comes from fewer page-table walks on large
buffers, on AVX2 and AVX-512 CPUs alike; README's Engines section has the figures.

Nothing happens where it cannot help or is not wanted: off Linux or glibc, glibc before
2.35, THP ``always`` (every page already qualifies) or ``never``, the tunable already set,
a frozen executable, or ``RESNET_HUGEPAGES=0``. Python API users get the same by starting
Python with the tunable (:func:`environ` makes that environment).
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
from collections.abc import Mapping
from pathlib import Path

TUNABLE = "glibc.malloc.hugetlb=1"
THP_MODE = Path("/sys/kernel/mm/transparent_hugepage/enabled")


def thp_mode(path: Path = THP_MODE) -> str | None:
    """The kernel's THP mode (``always``, ``madvise``, ``never``), None if unknown."""
    try:
        found = re.search(r"\[(\w+)\]", path.read_text())
    except OSError:
        return None
    return found and found.group(1)


def glibc_version() -> tuple[int, ...] | None:
    try:
        name, version = (os.confstr("CS_GNU_LIBC_VERSION") or "").split()
        return tuple(int(part) for part in version.split(".")[:2]) if name == "glibc" else None
    except (ValueError, OSError):  # not glibc (musl, macOS), or an unparsable version
        return None


def wanted(environ: Mapping[str, str]) -> bool:
    """Whether starting again with the tunable would put malloc's memory on 2 MB pages."""
    return (sys.platform == "linux" and environ.get("RESNET_HUGEPAGES") != "0"
            and "glibc.malloc.hugetlb" not in environ.get("GLIBC_TUNABLES", "")
            and not getattr(sys, "frozen", False)
            and thp_mode() == "madvise" and (glibc_version() or (0,)) >= (2, 35))


def environ(base: Mapping[str, str]) -> dict[str, str]:
    """``base`` with the tunable added to ``GLIBC_TUNABLES`` (a colon-separated list)."""
    tunables = [t for t in base.get("GLIBC_TUNABLES", "").split(":") if t]
    return {**base, "GLIBC_TUNABLES": ":".join([*tunables, TUNABLE])}


QUICK = frozenset({"-h", "--help", "--version"})
"""Arguments of a run that loads no network: it does not pay the restart (~50 ms)."""


def relaunch(args: list[str]) -> None:
    """Replace this process by itself with the tunable set, where :func:`wanted` and the
    run will do work (``args``: the command's arguments; not --help, --version or shell
    completion). Same pid, arguments, descriptors and signal dispositions. Returns only
    where not wanted (or the exec failed: the run goes on as it is)."""
    working = bool(args) and not QUICK.intersection(args) and "_RESNET_COMPLETE" not in os.environ
    if working and wanted(os.environ):
        with contextlib.suppress(OSError):
            os.execve(sys.executable, sys.orig_argv, environ(os.environ))


def in_use() -> int:
    """Bytes of this process's memory on transparent huge pages (0 where not Linux)."""
    try:
        text = Path("/proc/self/smaps_rollup").read_text()
    except OSError:
        return 0
    found = re.search(r"^AnonHugePages:\s+(\d+) kB", text, re.MULTILINE)
    return int(found.group(1)) * 1024 if found else 0
