"""Run compiled code on numpy buffers: `Jitted` + `Net` -> `CompiledNet` (SPEC §4).

Everything the native code reads is checked first (`checks.py`): arrays are
converted to the net's dtype and C order (a copy only when needed), and every
shape is checked before the call, so native code never reads or writes
outside a buffer. The entries' ctypes prototypes (`CFUNCTYPE`, which releases
the GIL) and the scratch sizes come from `lower/abi.py`, the one definition of
the native interface. Large batches are split by `pool.py`'s fixed rule.
"""

import ctypes
import functools
import threading
from typing import List, Optional

import numpy as np

from .. import ties
from ..gradients import Gradients
from ..losses import check_target
from ..lower import abi
from . import checks, pool
from .plan import Plan

# The ctypes type of each argument kind of `abi.ENTRIES` (an `_objects` entry
# takes its ARRAY arguments as the numpy objects themselves).
_CTYPES = {abi.ARRAY: ctypes.c_void_p, abi.COUNT: ctypes.c_int64, abi.SCRATCH: ctypes.c_void_p,
           abi.PLAN: ctypes.c_void_p, abi.DATA: ctypes.c_void_p}


def prototype(entry: str):
    """The ctypes `CFUNCTYPE` of `entry`, from its signature in `abi.ENTRIES` (and `abi.RESULTS`)."""
    objects = entry.endswith((abi.OBJECTS_SUFFIX, abi.CHECKED_SUFFIX))
    result = _CTYPES[abi.RESULTS[entry]] if entry in abi.RESULTS else None
    return ctypes.CFUNCTYPE(result, *[ctypes.py_object if objects and kind == abi.ARRAY else _CTYPES[kind]
                                      for _, kind in abi.ENTRIES[entry]])


@functools.lru_cache(maxsize=None)
def array_data_offset() -> Optional[int]:
    """Byte offset of the data pointer in a numpy array object, or None if it cannot be trusted.

    NOTE: numpy's C struct puts `data` right after the object header; this
    checks it on arrays of several dtypes, shapes and views, and the fast
    entry (`tile.objects_wrapper`) is used only if every check agrees.
    """
    probes: list = [np.zeros(3), np.zeros((2, 5), np.float32)[1:], np.arange(7, dtype=np.int32)[2:]]
    for offset in (16, 24, 32):
        if all(ctypes.c_void_p.from_address(id(a) + offset).value == a.ctypes.data for a in probes):
            return offset
    return None


@functools.lru_cache(maxsize=None)
def array_layout_checked() -> bool:
    """True when every field the `_checked` entry reads (`abi.OBJECT_TYPE`, `abi.ARRAY_*`) is where
    `abi` says on this numpy, checked on probe arrays of several dtypes, shapes, orders and flags."""
    data = array_data_offset()
    if data is None:
        return False
    base = np.zeros((4, 6), np.float32)
    locked = np.zeros(5)
    locked.flags.writeable = False
    unaligned = np.frombuffer(np.zeros(41, np.uint8).data, np.float64, 5, offset=1)
    probes: List[np.ndarray] = [base, base[1:], base.T, base[:, ::2], np.zeros(3), locked, unaligned, np.zeros(()),
              np.arange(7, dtype=np.int32)[2:]]

    def word(a, offset, typ=ctypes.c_int64):
        return typ.from_address(id(a) + offset).value

    for a in probes:
        nd = word(a, data + abi.ARRAY_ND, ctypes.c_int32)
        flags = word(a, data + abi.ARRAY_FLAGS, ctypes.c_int32)
        dims = word(a, data + abi.ARRAY_DIMS, ctypes.c_void_p)
        shape = tuple((ctypes.c_int64 * nd).from_address(dims)) if nd else ()
        if (word(a, abi.OBJECT_TYPE, ctypes.c_void_p) != id(np.ndarray) or nd != a.ndim or shape != a.shape
                or word(a, data + abi.ARRAY_DESCR, ctypes.c_void_p) != id(a.dtype)
                or bool(flags & abi.ARRAY_C_CONTIGUOUS) != a.flags.c_contiguous
                or bool(flags & abi.ARRAY_ALIGNED) != a.flags.aligned
                or bool(flags & abi.ARRAY_WRITEABLE) != a.flags.writeable):
            return False
    return True


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
                 strategy: str, threads: int, rebuild=None):
        self.net = net
        self._rebuild = rebuild
        self._reduced: Optional[tuple] = None
        self.dtype = np.dtype(dtype)
        self.strategy = strategy
        self.threads = threads
        self._jitted = jitted
        self._make_grad = make_grad
        self._grad = None
        self._lazy_lock = threading.Lock()
        self._plan = Plan(net, outputs)
        self._shape = (net.n_neurons, net.n_weights, net.n_inputs, len(self._plan.outputs), net.n_biases,
                       net.n_edges)
        self._tied = (net.weight_ties is not None, net.bias_ties is not None)
        self._precision = abi.precision(dtype)
        self._lanes = self._precision.lanes
        self._forward = prototype(abi.FORWARD)(jitted.address(abi.FORWARD))
        offset = array_data_offset()
        self._objects = self._make_narrow = self._narrow = None
        if offset is not None:
            self._plan.slots[abi.PLAN_DATA_OFFSET] = offset
            objects = abi.FORWARD + abi.OBJECTS_SUFFIX
            self._objects = prototype(objects)(jitted.address(objects))
            self._make_narrow = make_narrow
        # NOTE: the `_checked` entry takes per-edge w and per-neuron b, so only untied nets use it.
        self._checkable = (make_narrow is not None and array_layout_checked() and not any(self._tied))
        if self._checkable:
            self._plan.slots[abi.PLAN_ARRAY_TYPE] = id(np.ndarray)
            self._plan.slots[abi.PLAN_DESCR] = id(self.dtype)
        self._checked = None
        self._work = self.n_edges + self.n_neurons
        self._zero_b = np.zeros(self.n_biases, dtype=self.dtype)
        self._zero_b.flags.writeable = False
        self._own: Optional[tuple] = None
        self._scratch = threading.local()

    # -- shape of the net (SPEC §4) --
    # NOTE: plain ints read on every call (the Net's own are computed each time).
    n_neurons = property(lambda self: self._shape[0])
    n_weights = property(lambda self: self._shape[1])
    n_inputs = property(lambda self: self._shape[2])
    n_outputs = property(lambda self: self._shape[3])
    n_biases = property(lambda self: self._shape[4])
    n_edges = property(lambda self: self._shape[5])
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

    @property
    def ir_backward(self) -> str:
        """The gradient module's optimised IR (compiled now if no backward call has built it)."""
        return self._gradient()[0].ir

    @property
    def ir_backward_unoptimized(self) -> str:
        """The gradient module's IR as lowered (for the SSA tier: `%Dn04`, `%Dz04`, ...)."""
        return self._gradient()[0].ir_unoptimized

    @property
    def asm_backward(self) -> str:
        """The gradient module's machine code, as assembly text."""
        return self._gradient()[0].asm

    def __reduce__(self):
        # NOTE: no machine code travels; `rebuild()` gives the compiler's loader and the
        # settings as given (computed once), so loading compiles again (a cache hit or an
        # in-memory reuse where this process or its disk cache has the code).
        if self._rebuild is None:
            raise TypeError("this CompiledNet was not built by jitnet.compile and cannot be pickled")
        if self._reduced is None:
            self._reduced = self._rebuild()
        return self._reduced

    def init(self, seed: int = 0):
        """Starting weights: uniform(-1, 1) / sqrt(fan_in of the target), canonical order; b = 0.

        For a tied net, one value per parameter over sqrt(F_p), F_p the largest
        fan-in among the neurons its edges feed (SPEC §10)."""
        fan_in = self.net.fan_in[self.net.edges[:, 1]]
        if self.net.weight_ties is not None:
            fan_in = ties.largest_fan_in(self.net.weight_ties, self.n_weights, fan_in)
        w = np.random.default_rng(seed).uniform(-1.0, 1.0, self.n_weights) / np.sqrt(fan_in)
        return w.astype(self.dtype), np.zeros(self.n_biases, dtype=self.dtype)

    def forward(self, x, w=None, b=None, out=None):
        """The outputs for `x` of shape (n_inputs,) or (batch, n_inputs), in the net's dtype.

        `out`, if given, is a C-ordered array of the net's dtype shaped like
        the result; it is filled and returned (no allocation per call).
        """
        if self._checkable and type(x) is np.ndarray and (x.ndim == 1 or len(x) <= self._precision.narrow_lanes):
            # NOTE: a call of a few samples goes first to the entry that checks its arrays itself
            # (see `tile.checked_wrapper`); what it declines takes the path below.
            y = out
            if y is None:
                y = np.empty(self.n_outputs if x.ndim == 1 else (len(x), self.n_outputs), self.dtype)
            if w is None:
                w, b = self._parameters(w, b)
            elif b is None:
                b = self._zero_b
            if (self._checked or self._checked_function())(x, w, b, y, self._plan.address) == 0:
                return y
        x, single = checks.samples(x, self.n_inputs, self.dtype)
        if w is not None and np.ndim(w) == 2:
            return self._forward_rows(x, single, w, b, out)
        w, b = self._parameters(w, b, rows=True)
        shape = (self.n_outputs,) if single else (len(x), self.n_outputs)
        if out is None:
            y = np.empty((len(x), self.n_outputs), dtype=self.dtype)
        else:
            checks.check_out(out, shape, self.dtype)
            y = out.reshape(len(x), self.n_outputs)
        if len(x):
            self._run(x, w, b, y)
        if out is not None:
            return out
        return y[0] if single else y

    def _forward_rows(self, x, single, w, b, out):
        """forward under S weight vectors (rows of w; b one vector or S rows): (S, batch, n_outputs)."""
        w, b = checks.parameters(w, self._zero_b if b is None else b, self.n_weights, self.n_biases,
                                 self.dtype, self._tied, rows=True)
        shape = (len(w),) + ((self.n_outputs,) if single else (len(x), self.n_outputs))
        if out is None:
            y = np.empty((len(w), len(x), self.n_outputs), dtype=self.dtype)
        else:
            checks.check_out(out, shape, self.dtype)
            y = out.reshape(len(w), len(x), self.n_outputs)
        if len(x):
            shared_b = ties.expand(b, self.net.bias_ties, self.dtype) if b.ndim == 1 else None
            for s in range(len(w)):
                b_s = shared_b if shared_b is not None else ties.expand(b[s], self.net.bias_ties, self.dtype)
                self._run(x, ties.expand(w[s], self.net.weight_ties, self.dtype), b_s, y[s])
        return out if out is not None else y.reshape(shape)

    def _run(self, x, w, b, y):
        batch = len(x)
        if self._objects is not None and pool.is_small(batch, self._work):
            # NOTE: too little work for a second thread: one call, no address
            # lookups, and a one-register tile when that covers the batch.
            small = self._make_narrow is not None and batch <= self._precision.narrow_lanes
            call = self._narrow_function() if small else self._objects
            call(x, w, b, y, batch, self._scratch_for("tile"), self._plan.address)
            return
        chunks = pool.split(batch, self._lanes, self.threads, self._work)
        w_at, b_at = w.ctypes.data, b.ctypes.data

        def run(k):
            lo, hi = chunks[k]
            self._forward(x.ctypes.data + lo * x.strides[0], w_at, b_at, y.ctypes.data + lo * y.strides[0],
                          hi - lo, self._scratch_for("tile"), self._plan.address)

        pool.run_each(len(chunks), run)

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
        x, single = checks.samples(x, self.n_inputs, self.dtype)
        self._one_vector(w, "backward")
        w, b = self._parameters(w, b)
        dy = checks.cotangent(dy, len(x), single, self.n_outputs, self.dtype)
        if out is not None:
            dx_shape = (self.n_inputs,) if single else (len(x), self.n_inputs)
            out = Gradients(*checks.gradient_buffers(out, dx_shape, self.n_weights, self.n_biases, self.dtype))
        return self._backward(x, w, b, dy, single, out)

    def loss_and_grad(self, x, w=None, b=None, target=None, loss="mse"):
        """`(loss, dw, db)`: a loss summed over the batch and its gradients (SPEC §4).

        "mse" is 0.5 * sum((y - t)^2); "xent" the softmax cross-entropy over
        the outputs, with `target` class indices or one-hot / probabilities.
        One native pass: the loss and dL/dy are computed in float64 where the
        backward pass seeds its outputs (`lower/loss.py`), so this costs what
        `backward` costs.
        """
        if target is None:
            raise TypeError("loss_and_grad() needs target")
        x, single = checks.samples(x, self.n_inputs, self.dtype)
        self._one_vector(w, "loss_and_grad")
        w, b = self._parameters(w, b)
        t = check_target(loss, target, len(x), self.n_outputs, single)
        kind = abi.LOSS_KINDS[loss, "classes" if t.ndim == 1 else "rows"]
        losses = np.zeros(self.threads, dtype=np.float64)  # one per chunk
        entry = self._gradient()[2] if len(x) else None

        def run(lo, hi, k, dw_k, db_k):
            entry(_data_address(x) + lo * x.strides[0], _data_address(w), _data_address(b),
                  _data_address(t) + lo * t.strides[0], kind, _data_address(losses) + 8 * k,
                  _data_address(dw_k), _data_address(db_k), hi - lo, self._scratch_for("grad"), self._plan.address)

        dw, db = np.empty(self.n_edges, self.dtype), np.empty(self.n_neurons, self.dtype)
        self._over_chunks(len(x), run, dw, db)
        # NOTE: per-chunk losses added in chunk order (a fixed order, as dw's are).
        value = 0.0
        for part in losses:
            value += float(part)
        dw, db = self._folded(dw, db)
        return value, dw, db

    def _backward(self, x, w, b, dy, single, out=None):
        """The VJP of checked, expanded arguments, into `out` (checked `Gradients`) or new arrays."""
        batch = len(x)
        dx = np.empty((batch, self.n_inputs), self.dtype) if out is None else out.dx.reshape(batch, self.n_inputs)
        # NOTE: a tied net's per-edge sums go to arrays of their own, then fold into `out`'s.
        dw = out.dw if out is not None and not self._tied[0] else np.empty(self.n_edges, self.dtype)
        db = out.db if out is not None and not self._tied[1] else np.empty(self.n_neurons, self.dtype)
        entry = self._gradient()[1] if batch else None

        def run(lo, hi, k, dw_k, db_k):
            entry(_data_address(x) + lo * x.strides[0], _data_address(w), _data_address(b),
                  _data_address(dy) + lo * dy.strides[0], _data_address(dx) + lo * dx.strides[0],
                  _data_address(dw_k), _data_address(db_k), hi - lo, self._scratch_for("grad"), self._plan.address)

        self._over_chunks(batch, run, dw, db)
        dw, db = self._folded(dw, db, out)
        if out is not None:
            return out
        return Gradients(dx[0] if single else dx, dw, db)

    def _over_chunks(self, batch, run, dw, db):
        """dw and db (per edge and neuron) summed over the batch: `run(lo, hi, k, dw_k, db_k)` on each
        chunk k of the thread split (at most `threads` of them).

        NOTE: the native call overwrites its dw and db, so with several
        threads every chunk but the first needs private ones; chunk 0 writes
        straight into the result and the others are added to it in chunk
        order, the same order with or without `out`, so the bits are the same.
        """
        if batch == 0:
            dw.fill(0)
            db.fill(0)
            return
        work = 3 * (self.n_edges + self.n_neurons)
        if pool.is_small(batch, work):
            chunks = [(0, batch)]  # NOTE: what `pool.split` gives for this little work, without its cost
        else:
            chunks = pool.split(batch, self._lanes, self.threads, work)
        sums = [(dw, db)] + [(np.empty(self.n_edges, self.dtype), np.empty(self.n_neurons, self.dtype))
                             for _ in chunks[1:]]
        pool.run_each(len(chunks), lambda k: run(*chunks[k], k, *sums[k]))
        for dw_k, db_k in sums[1:]:
            dw += dw_k
            db += db_k

    def _folded(self, dw, db, out=None):
        """Per-edge dw and per-neuron db folded per parameter when tied (into `out`'s when given)."""
        dw = ties.fold(dw, self.net.weight_ties, self.n_weights, None if out is None else out.dw)
        db = ties.fold(db, self.net.bias_ties, self.n_biases, None if out is None else out.db)
        return dw, db

    def _gradient(self):
        """(the gradient module's `Jitted`, its backward entry, its loss_and_grad entry), built on first use."""
        with self._lazy_lock:
            if self._grad is None:
                jitted = self._make_grad()
                self._grad = (jitted, prototype(abi.BACKWARD)(jitted.address(abi.BACKWARD)),
                              prototype(abi.LOSS_AND_GRAD)(jitted.address(abi.LOSS_AND_GRAD)))
        return self._grad

    def _narrow_function(self):
        """The one-register forward (built on first use), taking array objects."""
        return self._narrow_module()[1]

    def _checked_function(self):
        """The one-register forward that checks its array objects itself (built on first use)."""
        self._checked = self._narrow_module()[2]
        return self._checked

    def _narrow_module(self):
        """(the one-register forward's `Jitted`, its `_objects` entry, its `_checked` entry)."""
        if self._narrow is None:
            with self._lazy_lock:
                if self._narrow is None:
                    jitted = self._make_narrow()
                    entries = [abi.FORWARD_NARROW + suffix for suffix in (abi.OBJECTS_SUFFIX, abi.CHECKED_SUFFIX)]
                    self._narrow = (jitted, *(prototype(e)(jitted.address(e)) for e in entries))
        return self._narrow

    def _scratch_for(self, kind: str) -> int:
        """This thread's 64-byte aligned scratch for `kind` ("tile" or "grad"), kept between calls."""
        address = getattr(self._scratch, kind, None)
        if address is None:
            if kind == "tile":
                size = abi.scratch_size(abi.FORWARD_SCRATCH, self.dtype, n_neurons=self.n_neurons)
            else:
                size = abi.scratch_size(abi.BACKWARD_SCRATCH, self.dtype, n_neurons=self.n_neurons,
                                        n_weights=self.n_edges, n_seed_rows=self._plan.n_seed_rows,
                                        n_outputs=self.n_outputs,
                                        group=self._plan.grad_tiles)
            buffer = aligned_empty(size * self._precision.itemsize)
            setattr(self._scratch, kind + "_buffer", buffer)
            address = buffer.ctypes.data
            setattr(self._scratch, kind, address)
        return address

    # -- argument checks (SPEC §4, `checks.py`): before every native call --
    def _parameters(self, w, b, rows: bool = False):
        """(w per edge, b per neuron) for the native code: checked against n_weights / n_biases
        (defaults: the net's own; b=None with a w: zeros), then expanded through the ties."""
        if w is None:
            if self.net.weights is None:
                raise TypeError("this net carries no weights: pass w (and b), e.g. w, b = cn.init()")
            if self._own is None:
                own_b = self.net.biases if self.net.biases is not None else self._zero_b
                self._own = (self.net.weights.astype(self.dtype), own_b.astype(self.dtype))
            w, own_b = self._own
            b = own_b if b is None else b
        w, b = checks.parameters(w, self._zero_b if b is None else b, self.n_weights, self.n_biases,
                                 self.dtype, self._tied, rows)
        return ties.expand(w, self.net.weight_ties, self.dtype), ties.expand(b, self.net.bias_ties, self.dtype)

    @staticmethod
    def _one_vector(w, what: str) -> None:
        if w is not None and np.ndim(w) == 2:
            raise ValueError(f"{what} takes one weight vector (n_weights,); got w of shape {np.shape(w)} "
                             f"(only forward takes (S, n_weights))")


def _data_address(a: np.ndarray) -> int:
    """The address of `a`'s data, read from the array object when `array_data_offset` is known.

    NOTE: `a.ctypes.data` costs ~2 us; a batch-1 backward passes seven arrays.
    """
    offset = array_data_offset()
    if offset is None:
        return a.ctypes.data
    return ctypes.c_void_p.from_address(id(a) + offset).value or 0


def aligned_empty(n_bytes: int) -> np.ndarray:
    """An uninitialised uint8 buffer of `n_bytes` whose data start on an `abi.TILE_ALIGN` boundary
    (the compiled code's vector loads of tile rows assume it)."""
    raw = np.empty(n_bytes + abi.TILE_ALIGN, dtype=np.uint8)
    skip = -raw.ctypes.data % abi.TILE_ALIGN
    return raw[skip:skip + n_bytes]
