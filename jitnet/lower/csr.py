"""The CSR tier: Net -> llvmlite.ir.Module with a loop that reads the topology at run time.

The module holds one loop per activation code present in the net, over
neurons in schedule order and over each neuron's in-edge range; the index
arrays come from the plan (see `tile.py`). Its size, and so its compile time,
does not depend on the number of edges: a net of a million edges compiles as
fast as a small one, and any net with the same activation codes and dtype
shares the compiled code.

Segments of the schedule (start, stop, code) hold neurons of one depth and one
code, so any two neurons of a segment are independent: the loop runs them in
pairs, two FMA chains in flight, which FMA latency needs (PERF-NOTES, last
section). Each neuron's own chain is unchanged: b_j, then one `llvm.fma` per
in-edge in canonical order (SPEC §1).
"""

import functools

from llvmlite import ir

from . import grad, tile
from .tile import I32, I64, PTR, TileContext, counted_loop
from .vmath import emit_df, emit_f


def lower_csr(codes, dtype: str, narrow: bool = False) -> str:
    """The CSR forward module (IR text) for a net whose non-input neurons use the activation `codes`.

    `narrow` gives instead `FORWARD_NARROW`, the same pass on a one-register
    tile for calls of a few samples; it is a module of its own, compiled only
    when such a call comes, so the usual compile pays for one function.
    """
    return _lower_csr(tuple(sorted(set(int(c) for c in codes))), dtype, narrow)


@functools.lru_cache(maxsize=64)
def _lower_csr(codes: tuple, dtype: str, narrow: bool) -> str:
    # NOTE: memoized: the text depends only on (codes, dtype, narrow), and
    # building it with llvmlite costs tens of ms.
    module = ir.Module(name="jitnet_csr")
    if narrow:
        tile.forward_function(module, dtype, lambda ctx: _emit_body(ctx, codes),
                              lanes=tile.NARROW_LANES[dtype], name=tile.FORWARD_NARROW)
    else:
        tile.forward_function(module, dtype, lambda ctx: _emit_body(ctx, codes))
    return str(module)


def lower_csr_backward(codes, dtype: str) -> str:
    """The CSR backward (VJP) module as IR text; see `grad.py` for the ABI."""
    return _lower_csr_backward(tuple(sorted(set(int(c) for c in codes))), dtype)


@functools.lru_cache(maxsize=64)
def _lower_csr_backward(codes: tuple, dtype: str) -> str:
    module = ir.Module(name="jitnet_csr_grad")
    grad.backward_function(module, dtype, lambda ctx: _emit_body(ctx, codes),
                           lambda ctx: _emit_reverse(ctx, codes))
    return str(module)


def _emit_body(ctx: TileContext, codes):
    bld = ctx.builder
    arrays = _Arrays(ctx)
    accs = [_entry_alloca(bld, ctx.vector, f"acc{k}") for k in range(2)]
    _for_each_segment(ctx, codes, "act", reverse=False,
                      emit=lambda c, start, stop: _emit_segment(ctx, arrays, accs, c, start, stop))


def _for_each_segment(ctx: TileContext, codes, label: str, reverse: bool, emit):
    """For each segment (start, stop, code) of the plan, in order or reversed,
    `emit(code, start, stop)` inside the branch of its activation code."""
    bld = ctx.builder
    segs = ctx.plan_slot(tile.PLAN_SEGS, PTR, "segs")
    n_segs = ctx.plan_slot(tile.PLAN_N_SEGS, I64, "n_segs")
    with counted_loop(bld, I64(0), n_segs, f"{label}.seg") as k:
        s = bld.sub(bld.sub(n_segs, I64(1)), k) if reverse else k
        start = _load_i64(bld, segs, bld.mul(s, I64(3)), "seg_start")
        stop = _load_i64(bld, segs, bld.add(bld.mul(s, I64(3)), I64(1)), "seg_stop")
        code = _load_i64(bld, segs, bld.add(bld.mul(s, I64(3)), I64(2)), "seg_code")
        done = bld.append_basic_block(f"{label}.done")
        switch = bld.switch(code, done)
        for c in codes:
            block = bld.append_basic_block(f"{label}{c:02x}")
            switch.add_case(I64(c), block)
            bld.position_at_end(block)
            emit(c, start, stop)
            bld.branch(done)
        bld.position_at_end(done)


class _Arrays:
    """The plan's index arrays, loaded once per tile."""

    def __init__(self, ctx: TileContext):
        self.in_ptr = ctx.plan_slot(tile.PLAN_IN_PTR, PTR, "in_ptr")
        self.in_src = ctx.plan_slot(tile.PLAN_IN_SRC, PTR, "in_src")
        self.order = ctx.plan_slot(tile.PLAN_ORDER, PTR, "order")


def _emit_segment(ctx, arrays, accs, code, start, stop):
    """Neurons order[start:stop], all with activation `code`, in pairs then one left over."""
    bld = ctx.builder
    n_pairs = bld.sdiv(bld.sub(stop, start), I64(2), name="n_pairs")
    with counted_loop(bld, I64(0), n_pairs, f"pair{code:02x}") as p:
        first = bld.add(start, bld.mul(p, I64(2)))
        _emit_neurons(ctx, arrays, accs, code, [first, bld.add(first, I64(1))])
    odd = bld.icmp_signed("<", bld.add(start, bld.mul(n_pairs, I64(2))), stop)
    with bld.if_then(odd):
        _emit_neurons(ctx, arrays, accs[:1], code, [bld.sub(stop, I64(1))])


def _emit_neurons(ctx, arrays, accs, code, positions):
    """z_j = b_j + sum in canonical order, then n_j = f(z_j), for independent neurons at `positions`."""
    bld = ctx.builder
    neurons = [bld.sext(_load_i32(bld, arrays.order, pos), I64, name="j") for pos in positions]
    begins = [_load_i64(bld, arrays.in_ptr, j, "e_begin") for j in neurons]
    ends = [_load_i64(bld, arrays.in_ptr, bld.add(j, I64(1)), "e_end") for j in neurons]
    counts = [bld.sub(e, s) for s, e in zip(begins, ends)]
    for acc, j in zip(accs, neurons):
        bld.store(ctx.splat(ctx.load_scalar(ctx.b, j, "bias")), acc)
    common = counts[0]
    for c in counts[1:]:
        common = bld.select(bld.icmp_signed("<", c, common), c, common, name="common")
    # NOTE: the chains advance together over their common length, two edges a
    # step (unrolled here, so LLVM's costly unroller can stay off), then each
    # finishes alone; every chain still visits its edges in canonical order.
    with counted_loop(bld, I64(0), bld.sdiv(common, I64(2)), f"edge{code:02x}") as half:
        for step in (0, 1):
            k = bld.add(bld.mul(half, I64(2)), I64(step))
            for acc, begin in zip(accs, begins):
                _emit_edge(ctx, arrays, acc, bld.add(begin, k))
    with bld.if_then(bld.icmp_signed("!=", bld.srem(common, I64(2)), I64(0))):
        for acc, begin in zip(accs, begins):
            _emit_edge(ctx, arrays, acc, bld.add(begin, bld.sub(common, I64(1))))
    if len(accs) > 1:
        for acc, begin, count in zip(accs, begins, counts):
            with counted_loop(bld, common, count, f"tail{code:02x}") as k:
                _emit_edge(ctx, arrays, acc, bld.add(begin, k))
    for acc, j in zip(accs, neurons):
        z = bld.load(acc, typ=ctx.vector, name="z")
        ctx.store_neuron(z, emit_f(bld, code, z), j)


def _emit_edge(ctx, arrays, acc, e):
    bld = ctx.builder
    i = bld.sext(_load_i32(bld, arrays.in_src, e), I64, name="i")
    weight = ctx.splat(ctx.load_scalar(ctx.w, e, "w"))
    z = bld.load(acc, typ=ctx.vector)
    bld.store(ctx.fma(ctx.load_row(i, "n_i"), weight, z), acc)


def _emit_reverse(ctx: grad.GradContext, codes):
    """Segments in reverse (a segment's neurons are independent), then the inputs."""
    bld = ctx.builder
    acc = _entry_alloca(bld, ctx.vector, "dn")
    order = ctx.plan_slot(tile.PLAN_ORDER, PTR, "order")

    def emit(c, start, stop):
        with counted_loop(bld, start, stop, f"rneuron{c:02x}") as p:
            _emit_reverse_neuron(ctx, acc, c, bld.sext(_load_i32(bld, order, p), I64))

    _for_each_segment(ctx, codes, "dact", reverse=True, emit=emit)
    inputs = ctx.plan_slot(tile.PLAN_INPUTS, PTR, "inputs")
    n_in = ctx.plan_slot(tile.PLAN_N_INPUTS, I64, "n_inputs")
    with counted_loop(bld, I64(0), n_in, "rinput") as k:
        _emit_reverse_neuron(ctx, acc, None, tile.index_at(ctx, inputs, k))


def _emit_reverse_neuron(ctx: grad.GradContext, acc, code, i):
    """Dn_i from its seed over its out-edges in ascending j, dw of those edges, then Dz_i and db_i.

    `code` None marks an input: its Dn is dx and stays in its z row.
    """
    bld = ctx.builder
    out_ptr = ctx.plan_slot(tile.PLAN_OUT_PTR, PTR)
    out_dst = ctx.plan_slot(tile.PLAN_OUT_DST, PTR)
    out_edge = ctx.plan_slot(tile.PLAN_OUT_EDGE, PTR)
    bld.store(ctx.seed_or_zero(i), acc)
    n_i = ctx.load_row(i, "n_i")
    begin = _load_i64(bld, out_ptr, i, "o_begin")
    end = _load_i64(bld, out_ptr, bld.add(i, I64(1)), "o_end")

    def visit(e):
        j = bld.sext(_load_i32(bld, out_dst, e), I64, name="j")
        edge = bld.sext(_load_i32(bld, out_edge, e), I64, name="edge")
        dz_j = ctx.load_row(j, "dz_j", base=ctx.ztile)
        weight = ctx.splat(ctx.load_scalar(ctx.w, edge, "w"))
        # NOTE: SPEC §1 reverse order: Dn_i = fma(w_ij, Dz_j, Dn_i), ascending j.
        bld.store(ctx.fma(weight, dz_j, bld.load(acc, typ=ctx.vector)), acc)
        ctx.accumulate_product(edge, n_i, dz_j)

    # Two out-edges a step (unrolled by hand, see _emit_neurons), then one left over.
    pairs = bld.sdiv(bld.sub(end, begin), I64(2))
    with counted_loop(bld, I64(0), pairs, "out_edge") as half:
        first = bld.add(begin, bld.mul(half, I64(2)))
        visit(first)
        visit(bld.add(first, I64(1)))
    with bld.if_then(bld.icmp_signed("<", bld.add(begin, bld.mul(pairs, I64(2))), end)):
        visit(bld.sub(end, I64(1)))
    dn = bld.load(acc, typ=ctx.vector, name="dn_i")
    if code is None:
        ctx.store_row(dn, i, base=ctx.ztile)
        return
    dz = bld.fmul(dn, emit_df(bld, code, ctx.load_row(i, "z_i", base=ctx.ztile)), name="dz_i")
    ctx.store_row(dz, i, base=ctx.ztile)
    ctx.accumulate_sum(i, dz)


def _entry_alloca(bld: ir.IRBuilder, typ: ir.Type, name: str):
    """An alloca in the entry block, where SROA promotes it to a register."""
    entry = bld.function.entry_basic_block
    with bld.goto_block(entry):
        bld.position_at_start(entry)
        return bld.alloca(typ, name=name)


def _load_i32(bld, base, index):
    return bld.load(bld.gep(base, [index], inbounds=True, source_etype=I32), align=4, typ=I32)


def _load_i64(bld, base, index, name=""):
    return bld.load(bld.gep(base, [index], inbounds=True, source_etype=I64), align=8, typ=I64,
                    name=name)
