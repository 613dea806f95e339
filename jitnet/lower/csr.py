"""The CSR tier: Net -> llvmlite.ir.Module with loops that read the topology at run time.

The module walks the plan's segments (see `plan.py`): neurons of one depth
and one activation code, so independent of each other. Its size, and so its
compile time, does not depend on the number of edges: a net of a million
edges compiles as fast as a small one, and any net with the same activation
codes, dtype and register file shares the compiled code.

A segment whose neurons share one in-set (out-set in the reverse pass) runs
in register-tiled blocks: one load of a shared row feeds several neurons'
chains. The others run in pairs, two FMA chains in flight, which FMA latency
needs (PERF-NOTES, last section). Either way each neuron's own chain is
unchanged: b_j, then one `llvm.fma` per in-edge in canonical order (SPEC §1),
so blocks change no bit.
"""

import functools
from typing import Callable, NamedTuple

from llvmlite import ir

from . import abi, grad, tile
from .abi import INPUT_CODE
from .csr_dw import emit_weight_gradients, for_each_group, segment
from .tile import I64, PTR, TileContext, counted_loop, entry_alloca, load_i32, load_i64
from .vmath import emit_df, emit_f


class Blocking(NamedTuple):
    """Shape of the dense-block kernels for one register file and tile row.

    `width` lanes of `neurons` neurons' chains are in flight at once (the
    tile row is swept in parts of `width` lanes); the dw kernel keeps the
    partial sums of `dw_neurons` x `dw_sources` edges of a block, or of
    `dw_edges` in-edges of a lone neuron, in registers. A shared segment's last
    `padded` or more neurons (short of a whole block) still run as a block,
    its spare chains repeating the last neuron.
    """

    width: int
    neurons: int
    dw_neurons: int
    dw_sources: int
    dw_edges: int
    padded: int


def blocking(registers: tuple, lanes: int, itemsize: int) -> Blocking:
    """The blocking for `registers` = (count, bytes each) of vector registers.

    NOTE: a part of two registers per chain leaves room for the most chains
    with the shared part and a broadcast weight beside them (AVX2, 16 x 32 B,
    float32: 16 lanes x 6 neurons = 12 accumulators); a whole row per chain
    spilled on AVX2 (measured). 8 independent chains hide the FMA latency.
    At most 8 neurons: each streams its weights through a general register,
    and with 12 (AVX-512's 32 registers allow it) LLVM reloaded three of the
    pointers from the stack every step; blocks of 8 ran the forward of
    64-32-10 26% faster and 784-128-128-10 15% (measured on Zen 4).
    A pair of neurons keeps 2 x `part_regs` chains in flight, so it runs at
    about `part_regs` / 4 of a block's rate: a block padded with repeats does
    more useful work per cycle than pairs once more than that share of it is real.
    dw's partial sums are 64 bytes (`abi.PARTIAL_BYTES`) whatever the host,
    so an AVX2 register holds half of one: its 12 free registers take 3 x 2
    edges (measured as fast as the 8 x 1 of 32-byte partials there), AVX-512's
    8 x 2 (20 loads per 32 FMAs).
    """
    count, size = registers
    row_bytes = lanes * itemsize
    part_regs = max(1, min(row_bytes, 2 * size) // size)
    neurons = max(2, min(8, (count - part_regs - 2) // part_regs))
    partial_regs = max(1, abi.PARTIAL_BYTES // size)
    dw_edges = max(2, min(16, (count - 4) // partial_regs))
    dw_sources = 2 if dw_edges >= 6 else 1
    dw_neurons = min(8, dw_edges // dw_sources)
    padded = neurons * min(4, part_regs) // 4 + 1
    return Blocking(part_regs * size // itemsize if row_bytes > size else lanes, neurons, dw_neurons, dw_sources,
                    min(8, dw_edges), padded)


def lower_csr(codes, dtype: str, registers: tuple, narrow: bool = False) -> str:
    """The CSR forward module (IR text) for a net whose non-input neurons use the activation `codes`.

    `registers` (count, bytes) of the host's vector registers shape the
    dense-block kernel. `narrow` gives instead `FORWARD_NARROW`, the same pass on a
    one-register tile for calls of a few samples; it is a module of its own,
    compiled only when such a call comes, so the usual compile pays for one
    function.
    """
    return _lower_csr(_codes(codes), dtype, tuple(registers), narrow)


def _codes(codes) -> tuple:
    return tuple(sorted(set(int(c) for c in codes)))


@functools.lru_cache(maxsize=64)
def _lower_csr(codes: tuple, dtype: str, registers: tuple, narrow: bool) -> str:
    # NOTE: memoized: the text depends only on these arguments, and building
    # it with llvmlite costs tens of ms.
    module = ir.Module(name="jitnet_csr")
    p = abi.precision(dtype)
    lanes = p.narrow_lanes if narrow else p.lanes
    shape = blocking(registers, lanes, p.itemsize)
    name = abi.FORWARD_NARROW if narrow else abi.FORWARD
    tile.forward_function(module, dtype, lambda ctx: _emit_body(ctx, codes, shape), lanes=lanes,
                          name=name)
    return str(module)


def lower_csr_backward(codes, dtype: str, registers: tuple) -> str:
    """The CSR backward (VJP) module as IR text; see `grad.py` for the ABI."""
    return _lower_csr_backward(_codes(codes), dtype, tuple(registers))


@functools.lru_cache(maxsize=64)
def _lower_csr_backward(codes: tuple, dtype: str, registers: tuple) -> str:
    module = ir.Module(name="jitnet_csr_grad")
    p = abi.precision(dtype)
    shape = blocking(registers, p.lanes, p.itemsize)
    grad.backward_function(module, dtype, lambda ctx: _emit_body(ctx, codes, shape),
                           lambda ctx: _emit_reverse(ctx, codes, shape),
                           lambda ctx, tiles: emit_weight_gradients(ctx, shape, tiles))
    return str(module)


class _Walk(NamedTuple):
    """One direction of a pass: each neuron of `order` is a chain over its list
    `index[ptr[j]:ptr[j+1]]` of rows of `rows` (None: the n tile), with `weights` in
    list order; `start(j)` gives the chain's first value, `finish(code, j, value)` ends it."""

    order: ir.Value
    ptr: ir.Value
    index: ir.Value
    weights: ir.Value
    rows: ir.Value
    start: Callable
    finish: Callable


def _emit_body(ctx: TileContext, codes, shape: Blocking):
    """The forward pass: z_j = b_j + sum n_i w_ij over in-edges in canonical order, n_j = f(z_j).

    The chains leave z_j in its z row; then one pass over the segment writes
    n_j = f(z_j), emitted once per activation code.
    NOTE: f reads and writes different rows: relu's select of a loaded value
    stored back to the same address became an AVX masked store, which is
    microcoded and made the pass 2x slower on Zen 3.
    """
    walk = _Walk(ctx.plan_slot(abi.PLAN_ORDER, PTR, "order"),
                 ctx.plan_slot(abi.PLAN_IN_PTR, PTR, "in_ptr"),
                 ctx.plan_slot(abi.PLAN_IN_SRC, PTR, "in_src"), ctx.w, None,
                 lambda j: ctx.splat(ctx.load_scalar(ctx.b, j, "bias")),
                 lambda code, j, z: ctx.store_row(z, j, base=ctx.ztile))

    def activate(code, start, stop):
        def emit(c, j):
            ctx.store_row(emit_f(ctx.builder, c, ctx.load_row(j, base=ctx.ztile)), j)
        _each_neuron(ctx, walk.order, code, start, stop, codes, "f", emit)

    _walk_segments(ctx, walk, shape, abi.PLAN_SEGS, abi.PLAN_N_SEGS, "act", after=activate)


def _walk_segments(ctx: TileContext, walk: _Walk, shape: Blocking, segs_slot, count_slot, label,
                   before=None, after=None):
    """Each segment: `before(code, start, stop)`, the chains (blocks of `shape.neurons` when
    its lists are shared, then pairs), `after(code, start, stop)`; `code` is a run-time value.

    NOTE: the chains do not depend on the activation code, so they are emitted
    once, not once per code: the module, and its compile time, stay small.
    """
    accs = [entry_alloca(ctx.builder, ctx.vector, f"{label}.acc{k}") for k in range(2)]
    block = _Block(ctx, shape, f"{label}.block")
    bld = ctx.builder
    segs = ctx.plan_slot(segs_slot, PTR, "segs")
    n_segs = ctx.plan_slot(count_slot, I64, "n_segs")
    with counted_loop(bld, I64(0), n_segs, f"{label}.seg") as s:
        start, stop, code, shared = segment(bld, segs, s)
        if before is not None:
            before(code, start, stop)
        rest = for_each_group(ctx, shape.neurons, start, stop, shared,
                               lambda positions, real: _emit_block(ctx, walk, block, code, positions, real),
                               padded=shape.padded)
        _emit_pairs(ctx, walk, accs, code, rest, stop)
        if after is not None:
            after(code, start, stop)


def _each_neuron(ctx: TileContext, order, code, start, stop, codes, label, emit):
    """`emit(c, j)` for the neurons j = order[start:stop], in the branch of their code c
    (a run-time value among `codes`)."""
    bld = ctx.builder

    def loop(c):
        with counted_loop(bld, start, stop, f"{label}{c & 0xff:02x}") as p:
            emit(c, bld.sext(load_i32(bld, order, p), I64, name="j"))

    _switch(bld, code, codes, label, loop)


def _switch(bld: ir.IRBuilder, code, codes, label: str, emit):
    """`emit(c)` in the branch of `code`'s value c among `codes`."""
    done = bld.append_basic_block(f"{label}.done")
    switch = bld.switch(code, done)
    for c in codes:
        block = bld.append_basic_block(f"{label}{c & 0xff:02x}")
        switch.add_case(I64(c), block)
        bld.position_at_end(block)
        emit(c)
        bld.branch(done)
    bld.position_at_end(done)


class _Block:
    """Chains of several neurons that share their other operand: `Blocking.neurons` chains
    of `Blocking.width` lanes in registers, their full rows kept in a stack buffer."""

    def __init__(self, ctx: TileContext, shape: Blocking, name: str):
        self.ctx, self.size, self.width = ctx, shape.neurons, shape.width
        self.part = ir.VectorType(ctx.scalar, shape.width)
        self.rows = entry_alloca(ctx.builder, ctx.scalar, name, count=self.size * ctx.lanes)
        self.accs = [entry_alloca(ctx.builder, self.part, f"{name}{r}") for r in range(self.size)]

    def row(self, r) -> ir.Value:
        """Pointer to chain r's full row (r an int or i64)."""
        bld = self.ctx.builder
        index = I64(r * self.ctx.lanes) if isinstance(r, int) else bld.mul(r, I64(self.ctx.lanes))
        return bld.gep(self.rows, [index], inbounds=True, source_etype=self.ctx.scalar)

    def store(self, r: int, value: ir.Value):
        self.ctx.builder.store(value, self.row(r), align=self.ctx.align)

    def load(self, r) -> ir.Value:
        return self.ctx.builder.load(self.row(r), align=self.ctx.align, typ=self.ctx.vector)

    def run(self, count, shared_row, weight, label: str):
        """For each chain r: row_r = fma(shared_row(k), weight(r, k), row_r) for k < count, in order.

        `shared_row(k)` gives a pointer to a tile row, `weight(r, k)` a scalar.
        NOTE: each lane's chain is the same whatever the width, so the bits
        equal the one-neuron-at-a-time path's.
        """
        ctx, bld = self.ctx, self.ctx.builder
        align = min(abi.TILE_ALIGN, self.width * ctx.align)
        with counted_loop(bld, I64(0), I64(ctx.lanes // self.width), f"{label}.part") as c:
            offset = bld.mul(c, I64(self.width))
            parts = [bld.gep(self.row(r), [offset], inbounds=True, source_etype=ctx.scalar)
                     for r in range(self.size)]
            for acc, part in zip(self.accs, parts):
                bld.store(bld.load(part, align=ctx.align, typ=self.part), acc)
            with counted_loop(bld, I64(0), count, label) as k:
                source = bld.gep(shared_row(k), [offset], inbounds=True, source_etype=ctx.scalar)
                value = bld.load(source, align=align, typ=self.part)
                for r, acc in enumerate(self.accs):
                    w = ctx.splat(weight(r, k), lanes=self.width)
                    bld.store(ctx.fma(value, w, bld.load(acc, typ=self.part)), acc)
            for acc, part in zip(self.accs, parts):
                bld.store(bld.load(acc, typ=self.part), part, align=ctx.align)


def _emit_block(ctx: TileContext, walk: _Walk, block: _Block, code, positions, real):
    """Neurons at `positions` sharing one list: each of its rows loaded once for all of them.

    Only the first `real` chains are finished: the others repeat the last
    neuron (a padded block), and its end (db in the reverse pass) must run once.
    """
    bld = ctx.builder
    neurons = [bld.sext(load_i32(bld, walk.order, pos), I64, name="j") for pos in positions]
    begins = [load_i64(bld, walk.ptr, j, "begin") for j in neurons]
    count = bld.sub(load_i64(bld, walk.ptr, bld.add(neurons[0], I64(1))), begins[0])
    for r, j in enumerate(neurons):
        block.store(r, walk.start(j))

    def shared_row(k):
        i = bld.sext(load_i32(bld, walk.index, bld.add(begins[0], k)), I64)
        return ctx.row(i, base=walk.rows)

    block.run(count, shared_row,
              lambda r, k: ctx.load_scalar(walk.weights, bld.add(begins[r], k), "w"),
              "block")
    with counted_loop(bld, I64(0), real, "block_end") as r:
        j = bld.sext(load_i32(bld, walk.order, bld.add(positions[0], r)), I64)
        walk.finish(code, j, block.load(r))


def _emit_pairs(ctx: TileContext, walk: _Walk, accs, code, start, stop):
    """Neurons order[start:stop], all with activation `code`, in pairs then one left over."""
    bld = ctx.builder
    n_pairs = bld.sdiv(bld.sub(stop, start), I64(2), name="n_pairs")
    with counted_loop(bld, I64(0), n_pairs, "pair") as p:
        first = bld.add(start, bld.mul(p, I64(2)))
        _emit_neurons(ctx, walk, accs[:2], code, [first, bld.add(first, I64(1))])
    odd = bld.icmp_signed("<", bld.add(start, bld.mul(n_pairs, I64(2))), stop)
    with bld.if_then(odd):
        _emit_neurons(ctx, walk, accs[:1], code, [bld.sub(stop, I64(1))])


def _emit_neurons(ctx: TileContext, walk: _Walk, accs, code, positions):
    """The chains of independent neurons at `positions`, advancing together."""
    bld = ctx.builder
    neurons = [bld.sext(load_i32(bld, walk.order, pos), I64, name="j") for pos in positions]
    begins = [load_i64(bld, walk.ptr, j, "begin") for j in neurons]
    ends = [load_i64(bld, walk.ptr, bld.add(j, I64(1)), "end") for j in neurons]
    counts = [bld.sub(e, s) for s, e in zip(begins, ends)]
    for acc, j in zip(accs, neurons):
        bld.store(walk.start(j), acc)
    common = counts[0]
    for c in counts[1:]:
        common = bld.select(bld.icmp_signed("<", c, common), c, common, name="common")
    # NOTE: the chains advance together over their common length, two edges a
    # step (unrolled here, so LLVM's costly unroller can stay off), then each
    # finishes alone; every chain still visits its edges in list order.
    with counted_loop(bld, I64(0), bld.sdiv(common, I64(2)), "edge") as half:
        for step in (0, 1):
            k = bld.add(bld.mul(half, I64(2)), I64(step))
            for acc, begin in zip(accs, begins):
                _emit_edge(ctx, walk, acc, bld.add(begin, k))
    with bld.if_then(bld.icmp_signed("!=", bld.srem(common, I64(2)), I64(0))):
        for acc, begin in zip(accs, begins):
            _emit_edge(ctx, walk, acc, bld.add(begin, bld.sub(common, I64(1))))
    if len(accs) > 1:
        for acc, begin, count in zip(accs, begins, counts):
            with counted_loop(bld, common, count, "tail") as k:
                _emit_edge(ctx, walk, acc, bld.add(begin, k))
    for acc, j in zip(accs, neurons):
        walk.finish(code, j, bld.load(acc, typ=ctx.vector, name="chain"))


def _emit_edge(ctx: TileContext, walk: _Walk, acc, e):
    """acc = fma(row of index[e], weights[e], acc): one rounding per edge (SPEC §1)."""
    bld = ctx.builder
    i = bld.sext(load_i32(bld, walk.index, e), I64, name="i")
    weight = ctx.splat(ctx.load_scalar(walk.weights, e, "w"))
    row = ctx.load_row(i, "row", base=walk.rows)
    bld.store(ctx.fma(row, weight, bld.load(acc, typ=ctx.vector)), acc)


def _emit_reverse(ctx: grad.GradContext, codes, shape: Blocking):
    """Dn_i = fma(w_ij, Dz_j, Dn_i) from i's seed over its out-edges in ascending j, then Dz_i
    and db_i (inputs: Dn_i is dx), by the reverse schedule; dw comes later, per group.

    A pass over the segment first replaces each z_i by f'(z_i) (emitted once per
    activation code); the chains then end with Dz_i = Dn_i * f'(z_i).
    """
    walk = _Walk(ctx.plan_slot(abi.PLAN_REVERSE_ORDER, PTR, "reverse_order"),
                 ctx.plan_slot(abi.PLAN_OUT_PTR, PTR, "out_ptr"),
                 ctx.plan_slot(abi.PLAN_OUT_DST, PTR, "out_dst"), ctx.w_out, ctx.ztile,
                 ctx.seed_or_zero, lambda code, i, dn: _finish_reverse(ctx, code, i, dn))

    def derivative(code, start, stop):
        def emit(c, i):
            ctx.store_row(emit_df(ctx.builder, c, ctx.load_row(i, base=ctx.ztile)), i, base=ctx.ztile)
        _each_neuron(ctx, walk.order, code, start, stop, codes, "df", emit)

    _walk_segments(ctx, walk, shape, abi.PLAN_REVERSE_SEGS, abi.PLAN_N_REVERSE_SEGS, "dact",
                   before=derivative)


def _finish_reverse(ctx: grad.GradContext, code, i, dn):
    """An input keeps Dn (its dx) in its z row; another neuron gets Dz_i = Dn_i * f'(z_i) and db_i."""
    bld = ctx.builder
    with bld.if_else(bld.icmp_signed("==", code, I64(INPUT_CODE))) as (is_input, otherwise):
        with is_input:
            ctx.store_row(dn, i, base=ctx.ztile)
        with otherwise:
            dz = bld.fmul(dn, ctx.load_row(i, "df_i", base=ctx.ztile), name="dz_i")
            ctx.store_row(dz, i, base=ctx.ztile)
            ctx.accumulate_sum(i, dz)
