"""Machine description and timing helpers shared by the benchmark scripts."""

from __future__ import annotations

import os
import platform
import statistics
import time
from typing import Callable

import torch


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as stream:
            for line in stream:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def describe(threads: int, device: str = "cpu") -> str:
    gpu = f", GPU {torch.cuda.get_device_name()}" if device.startswith("cuda") else ""
    return (f"machine: {cpu_model()} ({os.cpu_count()} logical CPUs), torch {torch.__version__} "
            f"with {threads} thread(s){gpu}, python {platform.python_version()}")


def median_time(function: Callable[[], object], repeats: int, warmup: int = 1, device: str = "cpu") -> float:
    """Median wall time (s) of ``repeats`` calls after ``warmup`` calls."""
    for _ in range(warmup):
        function()
    times = []
    for _ in range(repeats):
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        start = time.perf_counter()
        function()
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return statistics.median(times)
