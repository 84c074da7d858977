"""Medians of repeated timings, and a ratio against a baseline measured in the same run."""

from __future__ import annotations

import gc
import statistics
import time
from collections.abc import Callable


def median_seconds(function: Callable[[], object], *, repeat: int = 5) -> float:
    samples = []
    for _ in range(repeat):
        gc.collect()
        start = time.perf_counter()
        function()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def report(name: str, count: int, platform_s: float, baseline_s: float, unit: str = "ops") -> None:
    print(
        f"{name:<44} platform {count / platform_s:>11,.0f} {unit}/s   baseline {count / baseline_s:>11,.0f} {unit}/s"
        f"   ratio {platform_s / baseline_s:5.2f}x"
    )
