"""Import MXNet lazily and configure its CPU threading before the first import.

MXNet reads OMP_NUM_THREADS when its engine starts; left alone it may use a single
core.  We default it to the number of cores this process may actually run on
(``sched_getaffinity`` respects taskset and cgroup cpusets), unless the user set it.
"""

from __future__ import annotations

import os
import warnings
from types import ModuleType


def available_cores() -> int:
    """Cores this process may run on (not the machine's total)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def mxnet() -> ModuleType:
    """Return the ``mxnet`` module, configuring threads on first import."""
    os.environ.setdefault("OMP_NUM_THREADS", str(available_cores()))
    os.environ.setdefault("MXNET_SUBGRAPH_VERBOSE", "0")  # no "backend activated" chatter
    with warnings.catch_warnings():
        # mxnet 1.9 triggers numpy/distutils deprecation warnings at import.
        warnings.simplefilter("ignore")
        import mxnet as mx
    return mx
