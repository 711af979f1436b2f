"""What mxnet 1.9.1 needs from a newer numpy/Python, provided before it is imported.

MXNet 1.9.1 still writes ``np.bool`` and ``np.int``, aliases numpy 1.24 removed; numpy
1.26 is the oldest numpy with Python 3.12 wheels, so one dependency set for 3.11 and 3.12
means putting the aliases back.  They are set only where missing, read through the module
dict so that no deprecation warning is ever triggered.  (``distutils``, which MXNet also
imports, comes from setuptools on 3.12: a dependency, not code.)
"""

from __future__ import annotations

import builtins

# The aliases numpy 1.20 deprecated and 1.24 removed, each meaning the Python builtin.
REMOVED_NUMPY_ALIASES = ("bool", "int", "float", "complex", "object", "str")


def restore_numpy_aliases() -> None:
    """Set ``np.bool`` etc. to the builtins they once were, where numpy lacks them."""
    import numpy as np

    namespace = vars(np)  # not getattr: numpy's __getattr__ warns or raises for these
    for name in REMOVED_NUMPY_ALIASES:
        if name not in namespace:
            setattr(np, name, getattr(builtins, name))
