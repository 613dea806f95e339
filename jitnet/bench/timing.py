"""Time a call: (callable) -> median seconds per call; shared by the suite, the limits and benchmarks/."""

import time

import numpy as np


def median_time(call, repeats: int = 5, min_time: float = 0.02) -> float:
    """Median seconds per call over `repeats` rounds, each round at least `min_time` long."""
    call()
    start = time.perf_counter()
    call()
    once = max(time.perf_counter() - start, 1e-9)
    inner = max(1, int(min_time / once))
    rounds = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(inner):
            call()
        rounds.append((time.perf_counter() - start) / inner)
    return float(np.median(rounds))
