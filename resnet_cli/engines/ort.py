"""ONNX Runtime on the CPU: one inference session configured as a bare one.

Only the thread count may differ from ONNX Runtime's defaults, and only when the user set
``OMP_NUM_THREADS``. An explicit ``intra_op_num_threads`` (what we used to set) turns off
ORT's pinning of each pool thread to a core, the one difference from the bare session that
ran ResNet-18 at batch 32 at 56.3 images/s to our 49.7 (benchmarks/compare.py, quiet
2-core Sapphire Rapids). ORT's default, one thread per physical core inside the process's
CPU mask, is its own choice on any CPU, AVX2 or AVX-512: ``--engine onnxruntime`` runs
with the settings of ONNX Runtime used alone. (At ResNet-18 batch 32 compare.py measured
it at 0.87-0.91x a bare session when its process started first, and at 1.06-1.08x when the
bare one did: README, Engine benchmarks.)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnxruntime

from resnet_cli import settings


@dataclass(frozen=True)
class Session:
    """A callable NCHW float32 -> logits; ``session`` shows the options it runs with."""

    session: onnxruntime.InferenceSession
    input_name: str

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        return self.session.run(None, {self.input_name: batch})[0]


def options() -> onnxruntime.SessionOptions:
    chosen = onnxruntime.SessionOptions()
    if (threads := settings.current().engine_threads) is not None:
        chosen.intra_op_num_threads = threads
    chosen.log_severity_level = 3  # warnings about unused initializers are noise to users
    return chosen


def session(model: Path | bytes) -> Session:
    source = model if isinstance(model, bytes) else str(model)
    sess = onnxruntime.InferenceSession(source, options(), providers=["CPUExecutionProvider"])
    return Session(sess, sess.get_inputs()[0].name)
