"""OpenVINO on the CPU, in fp32: on AMX/AVX-512-BF16 CPUs OpenVINO would otherwise run
bf16, whose logits differ from MXNet's in the third digit.

Otherwise OpenVINO's CPU defaults, as a bare compile gets them: the LATENCY hint (one
stream whose threads all work on each batch; THROUGHPUT would split the cores into
streams that only pay off with several requests in flight, and we run one at a time),
threads one per physical core and pinned, unless the user set ``OMP_NUM_THREADS``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import openvino

from resnet_cli import settings


@dataclass(frozen=True)
class Session:
    """A callable NCHW float32 -> logits; ``compiled`` shows the properties it runs with."""

    compiled: Any  # openvino.CompiledModel
    request: Any  # its one openvino.InferRequest

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        # share_inputs: the batch is read in place, not copied (19 MB at batch 32);
        # the output buffer is reused by the next call, hence the copy.
        return self.request.infer({0: batch}, share_inputs=True)[0].copy()


def config(precision: str) -> dict[str, Any]:
    chosen: dict[str, Any] = {"INFERENCE_PRECISION_HINT": precision,
                              "PERFORMANCE_HINT": "LATENCY"}
    if (threads := settings.current().engine_threads) is not None:
        chosen["INFERENCE_NUM_THREADS"] = threads
    return chosen


def session(model: Path | bytes, precision: str = "f32") -> Session:
    core = openvino.Core()
    network = core.read_model(model if isinstance(model, bytes) else str(model))
    compiled = core.compile_model(network, "CPU", config(precision))
    return Session(compiled, compiled.create_infer_request())
