"""The public entries of an exported net: (net, plan, dtype, name) -> an IR module of `NAME_*` functions.

An exported object must run without Python, so everything the runtime gives
the JIT-compiled entries at call time becomes part of the module: the plan's
index arrays and slot array as constant data, the weights and biases when
they are embedded, and the tie lists (SPEC §10). The wrappers check the batch,
allocate scratch when the caller passes NULL, gather tied parameters into
per-edge arrays, call the CSR tier's `jitnet_forward` (`jitnet_forward_narrow`
for a few samples) / `jitnet_backward`
(linked in from their own modules, made internal), and fold the per-edge
gradients back per parameter in ascending edge order, as `ties.fold` does.
"""

from typing import NamedTuple, Optional

import numpy as np
from llvmlite import ir

from . import abi
from .tile import I32, I64, PTR, counted_loop

I8 = ir.IntType(8)


class Layout(NamedTuple):
    """Byte offsets in the caller's scratch (after aligning it to TILE_ALIGN), and its total size."""

    main: int       # the tile (forward) or group sections (backward)
    w_edge: int     # tied weights gathered per edge
    b_neuron: int   # tied biases gathered per neuron
    dw_edge: int    # per-edge dw before the fold
    db_neuron: int  # per-neuron db before the fold
    size: int       # bytes the caller provides (alignment slack included)


def scratch_layout(net, plan, dtype: str, backward: bool) -> Layout:
    """Where each part of an exported call's scratch lives."""
    p = abi.precision(dtype)
    main = abi.scratch_size(abi.FORWARD_SCRATCH, dtype, n_neurons=net.n_neurons)
    if backward:
        main = max(main, abi.scratch_size(abi.BACKWARD_SCRATCH, dtype, n_neurons=net.n_neurons,
                                          n_weights=net.n_edges, n_seed_rows=plan.n_seed_rows,
                                          n_outputs=len(plan.outputs),
                                          group=plan.grad_tiles))
    sizes = [main, net.n_edges, net.n_neurons, net.n_edges, net.n_neurons]
    offsets, at = [], 0
    for count in sizes:
        offsets.append(at)
        at += -(-count * p.itemsize // abi.TILE_ALIGN) * abi.TILE_ALIGN
    main_at, w_at, b_at, dw_at, db_at = offsets
    return Layout(main_at, w_at, b_at, dw_at, db_at, at + abi.TILE_ALIGN)


def wrapper_module(net, plan, dtype: str, name: str, weights: Optional[np.ndarray], biases: Optional[np.ndarray],
                   backward: bool, triple: str) -> ir.Module:
    """The module of `NAME_scratch_bytes`, `NAME_forward_with`, `NAME_forward` (weights embedded)
    and `NAME_backward` (with `backward`), calling the tier's entries it declares."""
    module = ir.Module(name=f"{name}_export")
    module.triple = triple
    scalar = ir.FloatType() if abi.precision(dtype).itemsize == 4 else ir.DoubleType()
    layout = scratch_layout(net, plan, dtype, backward)
    data = _Data(module, name)
    plan_global = data.plan(plan, backward)
    ties = (data.array("weight_ties", net.weight_ties, np.int64),
            data.array("bias_ties", net.bias_ties, np.int64))
    zeros = data.array("zero_biases", np.zeros(net.n_neurons), dtype)
    malloc = ir.Function(module, ir.FunctionType(PTR, [I64]), "malloc")
    free = ir.Function(module, ir.FunctionType(ir.VoidType(), [PTR]), "free")
    entry_type = ir.FunctionType(ir.VoidType(), [PTR, PTR, PTR, PTR, I64, PTR, PTR])
    forward = ir.Function(module, entry_type, abi.FORWARD)
    narrow = ir.Function(module, entry_type, abi.FORWARD_NARROW)
    steps = _Wrappers(net, layout, scalar, ties, zeros, malloc, free)

    bytes_fn = ir.Function(module, ir.FunctionType(I64, [I64]), f"{name}_scratch_bytes")
    ir.IRBuilder(bytes_fn.append_basic_block()).ret(I64(layout.size))

    with_fn = ir.Function(module, ir.FunctionType(I32, [PTR, PTR, PTR, PTR, I64, PTR]), f"{name}_forward_with")
    x, w, b, y, batch, scratch = with_fn.args
    with steps.call(with_fn, batch, scratch, zero_grads=None) as (bld, base):
        w_e, b_n = steps.parameters(bld, base, w, b)
        # NOTE: a few samples take the one-register tile, as in-process calls do (the same bits).
        few = bld.icmp_signed("<=", batch, I64(abi.precision(dtype).narrow_lanes))
        entry = bld.select(few, narrow, forward)
        bld.call(entry, [x, w_e, b_n, y, batch, steps.at(bld, base, layout.main), plan_global])

    if weights is not None:
        fn = ir.Function(module, ir.FunctionType(I32, [PTR, PTR, I64, PTR]), f"{name}_forward")
        x, y, batch, scratch = fn.args
        bld = ir.IRBuilder(fn.append_basic_block())
        w_own = data.array("weights", weights, dtype)
        b_own = data.array("biases", np.zeros(net.n_biases) if biases is None else biases, dtype)
        bld.ret(bld.call(with_fn, [x, w_own, b_own, y, batch, scratch]))

    if backward:
        grad = ir.Function(module, ir.FunctionType(ir.VoidType(), [PTR] * 7 + [I64, PTR, PTR]), abi.BACKWARD)
        fn = ir.Function(module, ir.FunctionType(I32, [PTR] * 7 + [I64, PTR]), f"{name}_backward")
        x, w, b, dy, dx, dw, db, batch, scratch = fn.args
        with steps.call(fn, batch, scratch, zero_grads=(dw, db)) as (bld, base):
            w_e, b_n = steps.parameters(bld, base, w, b)
            dw_e = steps.at(bld, base, layout.dw_edge) if ties[0] is not None else dw
            db_n = steps.at(bld, base, layout.db_neuron) if ties[1] is not None else db
            bld.call(grad, [x, w_e, b_n, dy, dx, dw_e, db_n, batch, steps.at(bld, base, layout.main), plan_global])
            steps.fold(bld, ties[0], dw_e, dw, net.n_edges, net.n_weights)
            steps.fold(bld, ties[1], db_n, db, net.n_neurons, net.n_biases)
    return module


class _Data:
    """Internal constant globals of a module: raw bytes, aligned, named `NAME_...`."""

    def __init__(self, module: ir.Module, name: str):
        self.module, self.name = module, name

    def array(self, what: str, values: Optional[np.ndarray], dtype) -> Optional[ir.GlobalVariable]:
        """`values` as a constant array of `dtype`; None for None."""
        return None if values is None else self.constant(what, values, dtype)

    def constant(self, what: str, values: np.ndarray, dtype) -> ir.GlobalVariable:
        raw = bytearray(np.ascontiguousarray(values, dtype=dtype).tobytes()) or bytearray(8)
        g = ir.GlobalVariable(self.module, ir.ArrayType(I8, len(raw)), f"{self.name}__{what}")
        g.initializer = ir.Constant(ir.ArrayType(I8, len(raw)), raw)
        g.global_constant = True
        g.linkage = "internal"
        g.align = abi.TILE_ALIGN
        return g

    def plan(self, plan, backward: bool) -> ir.GlobalVariable:
        """The slot array of `plan`, its pointers turned into this module's constants (the
        backward pass's arrays only with `backward`: a forward-only object is half the size)."""
        pointers = {address: key for key, address in _plan_arrays(plan).items()
                    if backward or key in _FORWARD_ARRAYS}
        slots = []
        for k, value in enumerate(plan.slots.tolist()):
            if k in _BACKWARD_SLOTS and not backward:
                slots.append(I64(0))
            elif value in pointers and k != abi.PLAN_DATA_OFFSET:
                array = getattr(plan, pointers[value])
                slots.append(self.constant(pointers[value], array, array.dtype).ptrtoint(I64))
            else:
                slots.append(I64(value))
        g = ir.GlobalVariable(self.module, ir.ArrayType(I64, len(slots)), f"{self.name}__plan")
        g.initializer = ir.Constant(ir.ArrayType(I64, len(slots)), slots)
        g.global_constant = True
        g.linkage = "internal"
        g.align = 8
        return g


_FORWARD_ARRAYS = ("in_ptr", "in_src", "order", "segments", "inputs", "outputs")
_BACKWARD_SLOTS = (abi.PLAN_OUT_PTR, abi.PLAN_OUT_DST, abi.PLAN_OUT_EDGE, abi.PLAN_SEED_ROW,
                   abi.PLAN_SEED_OF_OUTPUT, abi.PLAN_REVERSE_ORDER, abi.PLAN_REVERSE_SEGS)


def _plan_arrays(plan) -> dict:
    names = ("in_ptr", "in_src", "order", "segments", "inputs", "outputs", "out_ptr", "out_dst", "out_edge",
             "seed_row", "seed_of_output", "reverse_order", "reverse_segments")
    return {name: getattr(plan, name).ctypes.data for name in names}


class _Wrappers:
    """The wrappers' shared steps: batch checks, scratch, tie gathers and folds."""

    def __init__(self, net, layout, scalar, ties, zeros, malloc, free):
        self.net, self.layout, self.scalar = net, layout, scalar
        self.ties, self.zeros, self.malloc, self.free = ties, zeros, malloc, free

    def call(self, fn, batch, scratch, zero_grads):
        return _Call(self, fn, batch, scratch, zero_grads)

    def at(self, bld, base, offset: int):
        """`base` + `offset` bytes."""
        return bld.gep(base, [I64(offset)], inbounds=True, source_etype=I8)

    def item(self, bld, array, index):
        """&array[index] for an array of the dtype."""
        return bld.gep(array, [index], source_etype=self.scalar)

    def parameters(self, bld, base, w, b):
        """(w per edge, b per neuron): gathered through the ties; NULL b reads zeros."""
        w_ties, b_ties = self.ties
        is_null = bld.icmp_unsigned("==", b, ir.Constant(PTR, None))
        b = bld.select(is_null, self.zeros.bitcast(PTR) if b_ties is None else ir.Constant(PTR, None), b)
        if w_ties is not None:
            w = self._gather(bld, w_ties, w, self.at(bld, base, self.layout.w_edge), self.net.n_edges, False)
        if b_ties is not None:
            b = self._gather(bld, b_ties, b, self.at(bld, base, self.layout.b_neuron), self.net.n_neurons, True)
        return w, b

    def _gather(self, bld, ties, values, out, count: int, may_be_none: bool):
        """out[e] = values[ties[e]] (0 for a -1 tie, or for every e when `values` is NULL)."""
        with counted_loop(bld, I64(0), I64(count), "gather") as e:
            t = bld.load(bld.gep(ties.bitcast(PTR), [e], inbounds=True, source_etype=I64), typ=I64)
            if may_be_none:
                usable = bld.and_(bld.icmp_signed(">=", t, I64(0)),
                                  bld.icmp_unsigned("!=", values, ir.Constant(PTR, None)))
                safe = bld.select(usable, t, I64(0))
                source = bld.select(usable, values, self.zeros.bitcast(PTR))
                value = bld.load(self.item(bld, source, safe), typ=self.scalar)
            else:
                value = bld.load(self.item(bld, values, t), typ=self.scalar)
            bld.store(value, self.item(bld, out, e))
        return out

    def fold(self, bld, ties, per_edge, out, count: int, n_params: int):
        """out[ties[e]] += per_edge[e] in ascending e, after zeroing out (a no-op when untied)."""
        if ties is None:
            return
        with counted_loop(bld, I64(0), I64(n_params), "zero") as p:
            bld.store(ir.Constant(self.scalar, 0.0), self.item(bld, out, p))
        with counted_loop(bld, I64(0), I64(count), "fold") as e:
            t = bld.load(bld.gep(ties.bitcast(PTR), [e], inbounds=True, source_etype=I64), typ=I64)
            with bld.if_then(bld.icmp_signed(">=", t, I64(0))):
                slot = self.item(bld, out, t)
                term = bld.load(self.item(bld, per_edge, e), typ=self.scalar)
                bld.store(bld.fadd(bld.load(slot, typ=self.scalar), term), slot)


class _Call:
    """`with`: the checks and scratch around an exported call; the body gets (builder, aligned base)."""

    def __init__(self, steps, fn, batch, scratch, zero_grads):
        self.steps, self.fn, self.batch, self.scratch, self.zero_grads = steps, fn, batch, scratch, zero_grads

    def __enter__(self):
        s, bld = self.steps, ir.IRBuilder(self.fn.append_basic_block("entry"))
        self.bld = bld
        with bld.if_then(bld.icmp_signed("<", self.batch, I64(0))):
            bld.ret(I32(1))
        with bld.if_then(bld.icmp_signed("==", self.batch, I64(0))):
            if self.zero_grads is not None:
                for out, n in zip(self.zero_grads, (s.net.n_weights, s.net.n_biases)):
                    with counted_loop(bld, I64(0), I64(n), "clear") as k:
                        bld.store(ir.Constant(s.scalar, 0.0), s.item(bld, out, k))
            bld.ret(I32(0))
        null = ir.Constant(PTR, None)
        given = bld.icmp_unsigned("!=", self.scratch, null)
        start = bld.block
        allocate, join = self.fn.append_basic_block("allocate"), self.fn.append_basic_block("join")
        bld.cbranch(given, join, allocate)
        bld.position_at_end(allocate)
        allocated = bld.call(s.malloc, [I64(s.layout.size)])
        bld.branch(join)
        bld.position_at_end(join)
        raw = bld.phi(PTR)
        raw.add_incoming(self.scratch, start)
        raw.add_incoming(allocated, allocate)
        with bld.if_then(bld.icmp_unsigned("==", raw, null)):
            bld.ret(I32(2))
        self.owned = bld.select(given, null, raw)
        address = bld.ptrtoint(raw, I64)
        aligned = bld.and_(bld.add(address, I64(abi.TILE_ALIGN - 1)), I64(-abi.TILE_ALIGN))
        return bld, bld.inttoptr(aligned, PTR)

    def __exit__(self, *exc):
        if exc[0] is None:
            self.bld.call(self.steps.free, [self.owned])
            self.bld.ret(I32(0))
        return False

