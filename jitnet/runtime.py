"""Run compiled code on numpy buffers: `Jitted` + `Net` -> `CompiledNet` (SPEC §4).

Everything the native code reads is checked here first: arrays are converted
to the net's dtype and C order (a copy only when needed), and every shape is
checked before the call, so native code never reads or writes outside a
buffer. The call goes through ctypes' `CFUNCTYPE`, which releases the GIL.
Large batches are split into contiguous runs of whole tiles, one per thread,
by a fixed rule (`_split`) that depends only on the net, the batch size and
`threads=`; since every sample is computed alone, any split gives the same bits.
"""

import ctypes
import os
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from .lower import tile
from .lower.tile import LANES, TILE_ALIGN

_FORWARD_ABI = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p,
                                ctypes.c_void_p, ctypes.c_int64, ctypes.c_void_p, ctypes.c_void_p)

# NOTE: below this many multiply-adds per call a second thread costs more than
# it saves (PERF-NOTES: the crossover is near 0.5 ms of work).
_MIN_WORK_PER_THREAD = 4_000_000

_POOL = None
_POOL_LOCK = threading.Lock()


def _pool() -> ThreadPoolExecutor:
    """The process-wide worker pool, created on first use (a documented global)."""
    global _POOL
    with _POOL_LOCK:
        if _POOL is None:
            _POOL = ThreadPoolExecutor(max_workers=os.cpu_count() or 1,
                                       thread_name_prefix="jitnet")
        return _POOL


class Plan:
    """The index arrays a compiled forward pass reads, and the slot array pointing at them."""

    def __init__(self, net, outputs: np.ndarray):
        self.order, self.segments = _segments(net)
        self.in_ptr = np.ascontiguousarray(net.in_ptr, dtype=np.int64)
        self.in_src = net.in_src.astype(np.int32)
        self.inputs = net.inputs.astype(np.int32)
        self.outputs = outputs.astype(np.int32)
        self.slots = np.zeros(tile.PLAN_SLOTS, dtype=np.uint64)
        self.slots[tile.PLAN_IN_PTR] = self.in_ptr.ctypes.data
        self.slots[tile.PLAN_IN_SRC] = self.in_src.ctypes.data
        self.slots[tile.PLAN_ORDER] = self.order.ctypes.data
        self.slots[tile.PLAN_SEGS] = self.segments.ctypes.data
        self.slots[tile.PLAN_N_SEGS] = len(self.segments)
        self.slots[tile.PLAN_INPUTS] = self.inputs.ctypes.data
        self.slots[tile.PLAN_N_INPUTS] = len(self.inputs)
        self.slots[tile.PLAN_OUTPUTS] = self.outputs.ctypes.data
        self.slots[tile.PLAN_N_OUTPUTS] = len(self.outputs)
        self.address = self.slots.ctypes.data


def _segments(net):
    """Non-input neurons by (depth, code, index), cut into runs of one depth and one code.

    NOTE: neurons of one depth never feed each other, so a run's neurons are
    independent (the CSR tier computes them in pairs) and share one activation.
    """
    compute = np.flatnonzero(net.fan_in > 0)
    codes = net.activations[compute].astype(np.int64)
    depth = net.depth[compute]
    by_level = np.lexsort((compute, codes, depth))
    compute, codes, depth = compute[by_level], codes[by_level], depth[by_level]
    if len(compute) == 0:
        return compute.astype(np.int32), np.zeros((0, 3), dtype=np.int64)
    starts = np.concatenate([[0], np.flatnonzero((np.diff(depth) != 0) | (np.diff(codes) != 0)) + 1])
    stops = np.append(starts[1:], len(compute))
    return compute.astype(np.int32), np.stack([starts, stops, codes[starts]], axis=1)


class CompiledNet:
    """A net compiled for one dtype and one list of outputs; see `jitnet.compile`.

    Call `forward(x, w, b)` for outputs; `init(seed)` gives starting weights.
    It keeps its machine code (`Jitted`) alive as long as it lives.
    """

    def __init__(self, net, jitted, dtype: str, outputs: np.ndarray, strategy: str, threads: int):
        self.net = net
        self.dtype = np.dtype(dtype)
        self.strategy = strategy
        self.threads = threads
        self._jitted = jitted
        self._plan = Plan(net, outputs)
        self._lanes = LANES[dtype]
        self._forward = _FORWARD_ABI(jitted.address(tile.FORWARD))
        self._scratch = threading.local()

    # -- shape of the net (SPEC §4) --
    n_neurons = property(lambda self: self.net.n_neurons)
    n_weights = property(lambda self: self.net.n_weights)
    n_inputs = property(lambda self: self.net.n_inputs)
    n_outputs = property(lambda self: len(self._plan.outputs))
    inputs = property(lambda self: self.net.inputs)
    edges = property(lambda self: self.net.edges)

    @property
    def outputs(self) -> np.ndarray:
        return self._plan.outputs.astype(np.int64)

    @property
    def ir(self) -> str:
        """The optimised LLVM IR."""
        return self._jitted.ir

    @property
    def ir_unoptimized(self) -> str:
        """The LLVM IR as lowered, before any pass."""
        return self._jitted.ir_unoptimized

    @property
    def asm(self) -> str:
        """The machine code, as assembly text."""
        return self._jitted.asm

    def init(self, seed: int = 0):
        """Starting weights: uniform(-1, 1) / sqrt(fan_in of the target), canonical order; b = 0."""
        fan_in = self.net.fan_in[self.net.edges[:, 1]]
        w = np.random.default_rng(seed).uniform(-1.0, 1.0, self.n_weights) / np.sqrt(fan_in)
        return w.astype(self.dtype), np.zeros(self.n_neurons, dtype=self.dtype)

    def forward(self, x, w=None, b=None):
        """The outputs for `x` of shape (n_inputs,) or (batch, n_inputs), in the net's dtype."""
        x, single = self._samples(x)
        w, b = self._parameters(w, b)
        y = np.empty((len(x), self.n_outputs), dtype=self.dtype)
        if len(x):
            self._run(x, w, b, y)
        return y[0] if single else y

    def _run(self, x, w, b, y):
        batch = len(x)
        chunks = _split(batch, self._lanes, self.threads, self.n_weights + self.n_neurons)
        args = (w.ctypes.data, b.ctypes.data, self._plan.address)
        if len(chunks) == 1:
            self._call(x, y, 0, batch, args)
            return
        futures = [_pool().submit(self._call, x, y, lo, hi, args) for lo, hi in chunks[1:]]
        self._call(x, y, *chunks[0], args)
        for f in futures:
            f.result()

    def _call(self, x, y, lo, hi, args):
        w, b, plan = args
        x_at = x.ctypes.data + lo * x.strides[0]
        y_at = y.ctypes.data + lo * y.strides[0]
        self._forward(x_at, w, b, y_at, hi - lo, self._tile(), plan)

    def _tile(self) -> int:
        """This thread's scratch tile (N x lanes, 64-byte aligned), kept between calls."""
        tile_address = getattr(self._scratch, "address", None)
        if tile_address is None:
            size = self.n_neurons * self._lanes * self.dtype.itemsize
            raw = np.empty(size + TILE_ALIGN, dtype=np.uint8)
            offset = (-raw.ctypes.data) % TILE_ALIGN
            self._scratch.buffer = raw
            self._scratch.address = tile_address = raw.ctypes.data + offset
        return tile_address

    # -- argument checks (SPEC §4): before every native call --
    def _samples(self, x):
        x = _real_array(x, "x", self.dtype)
        n_in = self.n_inputs
        if x.ndim == 1 and x.shape[0] == n_in:
            return x.reshape(1, n_in), True
        if x.ndim == 2 and x.shape[1] == n_in:
            return x, False
        raise ValueError(f"x has shape {x.shape}; expected ({n_in},) or (batch, {n_in})")

    def _parameters(self, w, b):
        if w is None:
            if self.net.weights is None:
                raise TypeError("this net carries no weights: pass w (and b), e.g. w, b = cn.init()")
            w = self.net.weights
            b = self.net.biases if b is None else b
        w = _real_array(w, "w", self.dtype)
        if w.shape != (self.n_weights,):
            raise ValueError(f"w has shape {w.shape}; expected ({self.n_weights},), one per edge")
        if b is None:
            b = np.zeros(self.n_neurons, dtype=self.dtype)
        b = _real_array(b, "b", self.dtype)
        if b.shape != (self.n_neurons,):
            raise ValueError(f"b has shape {b.shape}; expected ({self.n_neurons},), one per neuron")
        return w, b


def _real_array(value, name: str, dtype: np.dtype) -> np.ndarray:
    """`value` as a C-ordered array of `dtype`; a TypeError for anything not real and numeric."""
    try:
        a = np.asarray(value)
    except (TypeError, ValueError) as e:
        raise TypeError(f"{name} must be a real numeric array: {e}") from None
    if a.dtype.kind not in "biuf":
        raise TypeError(f"{name} must be a real numeric array, got dtype {a.dtype}")
    return np.ascontiguousarray(a, dtype=dtype)


def _split(batch: int, lanes: int, threads: int, work_per_sample: int):
    """Contiguous runs of whole tiles, one per thread; a fixed function of its arguments."""
    tiles = -(-batch // lanes)
    useful = max(1, min(threads, tiles, batch * work_per_sample // _MIN_WORK_PER_THREAD))
    per = -(-tiles // useful)
    bounds = [min(k * per * lanes, batch) for k in range(useful + 1)]
    return [(lo, hi) for lo, hi in zip(bounds, bounds[1:]) if hi > lo]
