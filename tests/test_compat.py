"""Python 3.11 and 3.12 with numpy 1.26: what mxnet 1.9.1 needs is there, silently."""

from __future__ import annotations

import subprocess
import sys

import numpy as np

from resnet_cli.compat import REMOVED_NUMPY_ALIASES, restore_numpy_aliases

ALIAS_CHECK = """
import builtins, warnings
warnings.simplefilter("error")  # any warning fails this process
import numpy as np
assert not any(name in vars(np) for name in {names!r}), "numpy already has the aliases"
from resnet_cli.compat import restore_numpy_aliases
restore_numpy_aliases()
assert all(getattr(np, n) is getattr(builtins, n) for n in {names!r})
import distutils.version  # what mxnet imports; setuptools provides it on 3.12
print(np.__version__)
"""


def test_numpy_aliases_restored_without_warnings():
    code = ALIAS_CHECK.format(names=REMOVED_NUMPY_ALIASES)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("1.26.") and result.stderr == ""


def test_existing_aliases_are_left_alone(monkeypatch):
    sentinel = object()
    monkeypatch.setitem(vars(np), "bool", sentinel)  # not setattr: no getattr warning
    restore_numpy_aliases()
    assert np.bool is sentinel


def test_mxnet_code_that_uses_np_bool_runs():
    from resnet_cli.runtime import mxnet

    mx = mxnet()
    # Boolean-mask indexing goes through mxnet's own ``_np.bool`` (AttributeError without it).
    picked = mx.np.array([1.0, 2.0, 3.0])[np.array([True, False, True])]
    assert picked.asnumpy().tolist() == [1.0, 3.0]
