"""ONNX Runtime on the CPU, one inference session using every available core."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnxruntime

from resnet_cli import settings


def session(model: Path | bytes) -> Callable[[np.ndarray], np.ndarray]:
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = settings.current().threads
    options.log_severity_level = 3  # warnings about unused initializers are noise to users
    source = model if isinstance(model, bytes) else str(model)
    sess = onnxruntime.InferenceSession(source, options, providers=["CPUExecutionProvider"])
    name = sess.get_inputs()[0].name
    return lambda batch: sess.run(None, {name: batch})[0]
