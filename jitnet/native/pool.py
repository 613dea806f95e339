"""The thread split of large batches: (batch, lanes, threads, work) -> contiguous runs of whole tiles.

A batch is cut into runs of whole tiles, one per thread, by a fixed rule
(`split`) that depends only on the net's work per sample, the batch size and
`threads=`; since every sample is computed alone, any split gives the same
forward bits, and the backward pass adds its per-thread sums in run order.
The worker pool is process-wide and created on first use (a documented
global, STYLE §6).
"""

import os
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, List, Optional, Tuple

# NOTE: below this many multiply-adds per thread a second thread costs more
# than it saves. benchmarks/threads.py put the crossover at 0.4-0.5 ms of
# one-thread work (5-10M multiply-adds); this sits above it, because in a busy
# process 64-32-10 at batch 4096 (10M) ran 0.6-0.8x on two threads.
MIN_WORK_PER_THREAD = 8_000_000

_POOL: Optional[ThreadPoolExecutor] = None
_POOL_LOCK = threading.Lock()


def pool() -> ThreadPoolExecutor:
    """The process-wide worker pool, created on first use."""
    global _POOL
    with _POOL_LOCK:
        if _POOL is None:
            _POOL = ThreadPoolExecutor(max_workers=os.cpu_count() or 1, thread_name_prefix="jitnet")
        return _POOL


def is_small(batch: int, work_per_sample: int) -> bool:
    """True when `split` would give one run whatever `threads` is: too little work for two threads."""
    return batch * work_per_sample < 2 * MIN_WORK_PER_THREAD


def split(batch: int, lanes: int, threads: int, work_per_sample: int) -> List[Tuple[int, int]]:
    """Contiguous runs of whole tiles, one per thread; a fixed function of its arguments."""
    tiles = -(-batch // lanes)
    useful = max(1, min(threads, tiles, batch * work_per_sample // MIN_WORK_PER_THREAD))
    per = -(-tiles // useful)
    bounds = [min(k * per * lanes, batch) for k in range(useful + 1)]
    return [(lo, hi) for lo, hi in zip(bounds, bounds[1:]) if hi > lo]


def run_each(count: int, call: Callable[[int], None]) -> None:
    """`call(k)` for k < count: k = 0 on this thread, the others on the pool; returns when all are done."""
    futures = [pool().submit(call, k) for k in range(1, count)]
    call(0)
    for f in futures:
        f.result()
