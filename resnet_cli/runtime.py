"""Import MXNet lazily and configure its CPU threading before the first import.

MXNet reads OMP_NUM_THREADS when its engine starts; left alone it may use a single
core.  We default it to the number of cores this process may actually run on
(``sched_getaffinity`` respects taskset and cgroup cpusets), unless the user set it.
"""

from __future__ import annotations

import os
import warnings
from types import ModuleType
from typing import Any

from resnet_cli.compat import restore_numpy_aliases


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
    restore_numpy_aliases()
    with warnings.catch_warnings():
        # mxnet 1.9 triggers numpy/distutils deprecation warnings at import.
        warnings.simplefilter("ignore")
        import mxnet as mx
    return mx


def optimize(net: Any, crop: int, fuse: bool = True) -> Any:
    """Hybridize with static memory; with oneDNN, also fuse conv+BN+ReLU into one op.

    Fusion folds BatchNorm into the convolution weights: measured +14% images/s on
    ResNet-18 fp32 (benchmarks/compare.py) with logits within 1e-6 of the plain graph.
    """
    mx = mxnet()
    if fuse and mx.runtime.Features().is_enabled("MKLDNN"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            net.optimize_for(mx.nd.zeros((1, 3, crop, crop)), backend="MKLDNN",
                             static_alloc=True, static_shape=True)
    else:
        net.hybridize(static_alloc=True, static_shape=True)
    return net
