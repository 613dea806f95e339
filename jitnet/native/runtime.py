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
import functools
import os
import threading
from collections import namedtuple
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from ..losses import loss_and_cotangent
from ..lower import grad, tile
from ..lower.tile import LANES, NARROW_LANES, TILE_ALIGN
from .checks import check_out, real_array
from .plan import Plan

_P, _N = ctypes.c_void_p, ctypes.c_int64
_FORWARD_ABI = ctypes.CFUNCTYPE(None, _P, _P, _P, _P, _N, _P, _P)
_BACKWARD_ABI = ctypes.CFUNCTYPE(None, _P, _P, _P, _P, _P, _P, _P, _N, _P, _P)

_O = ctypes.py_object
_OBJECTS_ABI = ctypes.CFUNCTYPE(None, _O, _O, _O, _O, _N, _P, _P)

Gradients = namedtuple("Gradients", ["dx", "dw", "db"])
Gradients.__doc__ = "The VJP of `CompiledNet.forward`: dx per sample; dw, db summed over the batch."

# NOTE: below this many multiply-adds per thread a second thread costs more
# than it saves. benchmarks/threads.py put the crossover at 0.4-0.5 ms of
# one-thread work (5-10M multiply-adds); this sits above it, because in a busy
# process 64-32-10 at batch 4096 (10M) ran 0.6-0.8x on two threads.
_MIN_WORK_PER_THREAD = 8_000_000

_POOL = None
_POOL_LOCK = threading.Lock()


@functools.lru_cache(maxsize=None)
def array_data_offset():
    """Byte offset of the data pointer in a numpy array object, or None if it cannot be trusted.

    NOTE: numpy's C struct puts `data` right after the object header; this
    checks it on arrays of several dtypes, shapes and views, and the fast
    entry (`tile.objects_wrapper`) is used only if every check agrees.
    """
    probes = [np.zeros(3), np.zeros((2, 5), np.float32)[1:], np.arange(7, dtype=np.int32)[2:]]
    for offset in (16, 24, 32):
        if all(ctypes.c_void_p.from_address(id(a) + offset).value == a.ctypes.data for a in probes):
            return offset
    return None


def _pool() -> ThreadPoolExecutor:
    """The process-wide worker pool, created on first use (a documented global)."""
    global _POOL
    with _POOL_LOCK:
        if _POOL is None:
            _POOL = ThreadPoolExecutor(max_workers=os.cpu_count() or 1,
                                       thread_name_prefix="jitnet")
        return _POOL


class CompiledNet:
    """A net compiled for one dtype and one list of outputs; see `jitnet.compile`.

    `forward(x, w, b)` gives outputs, `backward(x, w, b, dy)` the VJP,
    `loss_and_grad` a loss and its weight gradients; `init(seed)` gives
    starting weights. The gradient code and the one-register forward for
    calls of a few samples are compiled on the first call that needs them
    (`make_grad`, `make_narrow` build them), so nobody pays for unused code.
    It keeps its machine code alive as long as it lives.
    """

    def __init__(self, net, jitted, make_grad, make_narrow, dtype: str, outputs: np.ndarray,
                 strategy: str, threads: int):
        self.net = net
        self.dtype = np.dtype(dtype)
        self.strategy = strategy
        self.threads = threads
        self._jitted = jitted
        self._make_grad = make_grad
        self._grad = None
        self._lazy_lock = threading.Lock()
        self._plan = Plan(net, outputs)
        self._shape = (net.n_neurons, net.n_weights, net.n_inputs, len(self._plan.outputs))
        self._lanes = LANES[dtype]
        self._narrow_lanes = NARROW_LANES[dtype]
        self._forward = _FORWARD_ABI(jitted.address(tile.FORWARD))
        offset = array_data_offset()
        self._objects = self._make_narrow = self._narrow = None
        if offset is not None:
            self._plan.slots[tile.PLAN_DATA_OFFSET] = offset
            self._objects = _OBJECTS_ABI(jitted.address(tile.FORWARD + tile.OBJECTS_SUFFIX))
            self._make_narrow = make_narrow
        self._work = self.n_weights + self.n_neurons
        self._zero_b = np.zeros(self.n_neurons, dtype=self.dtype)
        self._zero_b.flags.writeable = False
        self._own = None
        self._scratch = threading.local()

    # -- shape of the net (SPEC §4) --
    # NOTE: plain ints read on every call (the Net's own are computed each time).
    n_neurons = property(lambda self: self._shape[0])
    n_weights = property(lambda self: self._shape[1])
    n_inputs = property(lambda self: self._shape[2])
    n_outputs = property(lambda self: self._shape[3])
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

    def forward(self, x, w=None, b=None, out=None):
        """The outputs for `x` of shape (n_inputs,) or (batch, n_inputs), in the net's dtype.

        `out`, if given, is a C-ordered array of the net's dtype shaped like
        the result; it is filled and returned (no allocation per call).
        """
        x, single = self._samples(x)
        w, b = self._parameters(w, b)
        shape = (self.n_outputs,) if single else (len(x), self.n_outputs)
        if out is None:
            y = np.empty((len(x), self.n_outputs), dtype=self.dtype)
        else:
            check_out(out, shape, self.dtype)
            y = out.reshape(len(x), self.n_outputs)
        if len(x):
            self._run(x, w, b, y)
        if out is not None:
            return out
        return y[0] if single else y

    def _run(self, x, w, b, y):
        batch = len(x)
        if self._objects is not None and batch * self._work < 2 * _MIN_WORK_PER_THREAD:
            # NOTE: too little work for a second thread: one call, no address
            # lookups, and a one-register tile when that covers the batch.
            small = self._make_narrow is not None and batch <= self._narrow_lanes
            call = self._narrow_function() if small else self._objects
            call(x, w, b, y, batch, self._scratch_for("tile"), self._plan.address)
            return
        chunks = _split(batch, self._lanes, self.threads, self._work)
        args = (w.ctypes.data, b.ctypes.data, self._plan.address)
        futures = [_pool().submit(self._call, x, y, lo, hi, args) for lo, hi in chunks[1:]]
        self._call(x, y, *chunks[0], args)
        for f in futures:
            f.result()

    def _call(self, x, y, lo, hi, args):
        w, b, plan = args
        x_at = x.ctypes.data + lo * x.strides[0]
        y_at = y.ctypes.data + lo * y.strides[0]
        self._forward(x_at, w, b, y_at, hi - lo, self._scratch_for("tile"), plan)

    def backward(self, x, w=None, b=None, dy=None, out=None):
        """The VJP: `Gradients(dx, dw, db)` for cotangent `dy` (shaped like forward's y).

        Runs the forward pass itself; dw and db are summed over the batch.
        `out`, if given, is a triple `(dx, dw, db)` (a `Gradients` from an
        earlier call will do) of writable C-ordered arrays of the net's dtype,
        shaped like the result: they are filled and returned as a `Gradients`
        of the same objects, so a training loop allocates no result arrays
        per call. They must not overlap each other or x, w, b, dy: the native
        code assumes its buffers do not alias (not checked, as for forward).

        Raises:
            TypeError: `out` is not three arrays, or one has the wrong dtype.
            ValueError: a shape is wrong, or a buffer is read-only or not C-ordered.
        """
        if dy is None:
            raise TypeError("backward() needs dy, the cotangent of the outputs")
        x, single = self._samples(x)
        w, b = self._parameters(w, b)
        dy = self._cotangent(dy, len(x), single)
        if out is not None:
            out = self._gradient_buffers(out, len(x), single)
        return self._backward(x, w, b, dy, single, out)

    def _gradient_buffers(self, out, batch: int, single: bool):
        """`backward`'s `out=` as a `Gradients`, each buffer checked (and named in the error)."""
        try:
            dx, dw, db = out
        except (TypeError, ValueError):
            raise TypeError(f"out must be three arrays (dx, dw, db), got {type(out).__name__}") from None
        shape = (self.n_inputs,) if single else (batch, self.n_inputs)
        check_out(dx, shape, self.dtype, "out.dx")
        check_out(dw, (self.n_weights,), self.dtype, "out.dw")
        check_out(db, (self.n_neurons,), self.dtype, "out.db")
        return Gradients(dx, dw, db)

    def loss_and_grad(self, x, w=None, b=None, target=None, loss="mse"):
        """`(loss, dw, db)`: a loss summed over the batch and its gradients (SPEC §4).

        "mse" is 0.5 * sum((y - t)^2); "xent" the softmax cross-entropy over
        the outputs, with `target` class indices or one-hot / probabilities.
        """
        if target is None:
            raise TypeError("loss_and_grad() needs target")
        x, single = self._samples(x)
        w, b = self._parameters(w, b)
        y = np.empty((len(x), self.n_outputs), dtype=self.dtype)
        if len(x):
            self._run(x, w, b, y)
        value, dy = loss_and_cotangent(loss, y, target, single)
        _, dw, db = self._backward(x, w, b, dy.astype(self.dtype), single)
        return value, dw, db

    def _backward(self, x, w, b, dy, single, out=None):
        """The VJP of checked arguments, into `out` (checked `Gradients`) or new arrays.

        NOTE: the native call overwrites its dw and db, so with several
        threads every chunk but the first needs private ones; chunk 0 writes
        straight into the result and the others are added to it in chunk
        order, the same order with or without `out`, so the bits are the same.
        """
        batch = len(x)
        if out is None:
            dx = np.empty((batch, self.n_inputs), dtype=self.dtype)
            dw, db = np.empty(self.n_weights, self.dtype), np.empty(self.n_neurons, self.dtype)
        else:
            dx, dw, db = out.dx.reshape(batch, self.n_inputs), out.dw, out.db
        if batch == 0:
            dw.fill(0)
            db.fill(0)
            return Gradients(dx, dw, db) if out is None else out
        function = self._gradient_function()
        work = 3 * (self.n_weights + self.n_neurons)
        if batch * work < 2 * _MIN_WORK_PER_THREAD:
            chunks = [(0, batch)]  # NOTE: what `_split` gives for this little work, without its cost
        else:
            chunks = _split(batch, self._lanes, self.threads, work)
        sums = [(dw, db)] + [(np.empty(self.n_weights, self.dtype), np.empty(self.n_neurons, self.dtype))
                             for _ in chunks[1:]]

        def run(k):
            lo, hi = chunks[k]
            dw_k, db_k = sums[k]
            function(_data_address(x) + lo * x.strides[0], _data_address(w), _data_address(b),
                     _data_address(dy) + lo * dy.strides[0], _data_address(dx) + lo * dx.strides[0],
                     _data_address(dw_k), _data_address(db_k), hi - lo, self._scratch_for("grad"),
                     self._plan.address)

        futures = [_pool().submit(run, k) for k in range(1, len(chunks))]
        run(0)
        for f in futures:
            f.result()
        # NOTE: per-thread partial sums are added in chunk order: a fixed order.
        for dw_k, db_k in sums[1:]:
            dw += dw_k
            db += db_k
        if out is not None:
            return out
        return Gradients(dx[0] if single else dx, dw, db)

    def _gradient_function(self):
        with self._lazy_lock:
            if self._grad is None:
                jitted = self._make_grad()
                self._grad = (jitted, _BACKWARD_ABI(jitted.address(grad.BACKWARD)))
        return self._grad[1]

    def _narrow_function(self):
        """The one-register forward (built on first use), taking array objects."""
        if self._narrow is None:
            with self._lazy_lock:
                if self._narrow is None:
                    jitted = self._make_narrow()
                    address = jitted.address(tile.FORWARD_NARROW + tile.OBJECTS_SUFFIX)
                    self._narrow = (jitted, _OBJECTS_ABI(address))
        return self._narrow[1]

    def _scratch_for(self, kind: str) -> int:
        """This thread's 64-byte aligned scratch for `kind` ("tile" or "grad"), kept between calls."""
        address = getattr(self._scratch, kind, None)
        if address is None:
            if kind == "tile":
                size = 2 * self.n_neurons * self._lanes     # n, then z (see tile.py)
            else:
                size = grad.scratch_size(self.dtype.name, self.n_neurons, self.n_weights,
                                         self._plan.n_seed_rows, self._plan.grad_tiles)
            raw = np.empty(size * self.dtype.itemsize + TILE_ALIGN, dtype=np.uint8)
            offset = (-raw.ctypes.data) % TILE_ALIGN
            setattr(self._scratch, kind + "_buffer", raw)
            address = raw.ctypes.data + offset
            setattr(self._scratch, kind, address)
        return address

    # -- argument checks (SPEC §4): before every native call --
    def _samples(self, x):
        x = self._array(x, "x")
        n_in = self.n_inputs
        if x.ndim == 1 and x.shape[0] == n_in:
            return x.reshape(1, n_in), True
        if x.ndim == 2 and x.shape[1] == n_in:
            return x, False
        raise ValueError(f"x has shape {x.shape}; expected ({n_in},) or (batch, {n_in})")

    def _array(self, value, name: str) -> np.ndarray:
        """`value` as a C-ordered array of the net's dtype (itself when it already is one)."""
        if type(value) is np.ndarray and value.dtype == self.dtype and value.flags.c_contiguous:
            return value
        return real_array(value, name, self.dtype)

    def _cotangent(self, dy, batch, single):
        dy = real_array(dy, "dy", self.dtype)
        expected = (self.n_outputs,) if single else (batch, self.n_outputs)
        if dy.shape != expected:
            raise ValueError(f"dy has shape {dy.shape}; expected {expected}, shaped like forward's y")
        return dy.reshape(batch, self.n_outputs)

    def _parameters(self, w, b):
        if w is None:
            if self.net.weights is None:
                raise TypeError("this net carries no weights: pass w (and b), e.g. w, b = cn.init()")
            if self._own is None:
                own_b = self.net.biases if self.net.biases is not None else self._zero_b
                self._own = (self.net.weights.astype(self.dtype), own_b.astype(self.dtype))
            w, own_b = self._own
            b = own_b if b is None else b
        w = self._array(w, "w")
        if w.shape != (self.n_weights,):
            raise ValueError(f"w has shape {w.shape}; expected ({self.n_weights},), one per edge")
        b = self._zero_b if b is None else self._array(b, "b")
        if b.shape != (self.n_neurons,):
            raise ValueError(f"b has shape {b.shape}; expected ({self.n_neurons},), one per neuron")
        return w, b


def _data_address(a: np.ndarray) -> int:
    """The address of `a`'s data, read from the array object when `array_data_offset` is known.

    NOTE: `a.ctypes.data` costs ~2 us; a batch-1 backward passes seven arrays.
    """
    offset = array_data_offset()
    if offset is None:
        return a.ctypes.data
    return ctypes.c_void_p.from_address(id(a) + offset).value or 0




def _split(batch: int, lanes: int, threads: int, work_per_sample: int):
    """Contiguous runs of whole tiles, one per thread; a fixed function of its arguments."""
    tiles = -(-batch // lanes)
    useful = max(1, min(threads, tiles, batch * work_per_sample // _MIN_WORK_PER_THREAD))
    per = -(-tiles // useful)
    bounds = [min(k * per * lanes, batch) for k in range(useful + 1)]
    return [(lo, hi) for lo, hi in zip(bounds, bounds[1:]) if hi > lo]
