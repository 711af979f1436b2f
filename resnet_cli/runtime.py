"""Import MXNet lazily and configure its CPU threading before the first import.

MXNet reads OMP_NUM_THREADS when its engine starts; left alone it may use a single
core.  Before the first import we set it to :attr:`Settings.threads` (the cores this
process may actually run on, unless the user set it).
"""

from __future__ import annotations

import os
import sys
import warnings
from types import ModuleType
from typing import Any

from resnet_cli import settings
from resnet_cli.compat import restore_numpy_aliases


def mxnet() -> ModuleType:
    """Return the ``mxnet`` module, configuring threads on first import."""
    if "mxnet" not in sys.modules:
        os.environ.setdefault("OMP_NUM_THREADS", str(settings.current().threads))
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
