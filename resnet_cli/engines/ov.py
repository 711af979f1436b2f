"""OpenVINO on the CPU, in fp32: on AMX/AVX-512-BF16 CPUs OpenVINO would otherwise run
bf16, whose logits differ from MXNet's in the third digit."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import openvino

from resnet_cli import settings


def session(model: Path | bytes, precision: str = "f32") -> Callable[[np.ndarray], np.ndarray]:
    core = openvino.Core()
    network = core.read_model(model if isinstance(model, bytes) else str(model))
    compiled = core.compile_model(network, "CPU", {
        "INFERENCE_PRECISION_HINT": precision,
        "INFERENCE_NUM_THREADS": settings.current().threads,
        "PERFORMANCE_HINT": "LATENCY",  # one request using every core for each batch
    })
    request = compiled.create_infer_request()

    def run(batch: np.ndarray) -> np.ndarray:
        return request.infer({0: batch})[0].copy()

    return run
