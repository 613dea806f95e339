"""The CSR tier's dw pass: (GradContext, tiles of a group) -> dw partial sums folded, target by target.

After each group of tiles (`grad.backward_function`'s `emit_weights`) it
walks the forward segments and folds `n_i * Dz_j` of every edge over the
group's tiles into the edge's partial sum (`grad.fold`'s order), which is
loaded and stored once per group instead of once per tile: that traffic
(32 B per edge) bounded the backward pass of big nets. A segment whose
neurons share one in-set shares each source row's load among up to
`Blocking.dw_neurons` edges; a lone neuron shares its Dz row among
`_DW_EDGES` of its in-edges. The segment walkers are shared with `csr.py`.
"""

from llvmlite import ir

from . import abi, grad, tile
from .tile import I64, PTR, TileContext, counted_loop, entry_alloca, load_i32, load_i64


def segment(bld: ir.IRBuilder, segs, s) -> tuple:
    """(start, stop, code, shared) of segment s: four i64 in a row."""
    return tuple(load_i64(bld, segs, bld.add(bld.mul(s, I64(4)), I64(k)), name)
                 for k, name in enumerate(("start", "stop", "code", "shared")))


def for_each_group(ctx: TileContext, size: int, start, stop, shared, emit, padded: int = 0) -> ir.Value:
    """When the segment is `shared`, `emit(positions, real)` for each group of `size` consecutive
    positions; returns the first position left to the neuron-by-neuron code.

    Groups are whole (`real` = size) except, with `padded` > 0, a last group
    of at least `padded` positions, whose missing positions repeat its last
    one (`real` counts its own).
    """
    bld = ctx.builder
    left = bld.sub(stop, start)
    whole = bld.sdiv(left, I64(size))
    if padded:
        tail = bld.icmp_signed(">=", bld.srem(left, I64(size)), I64(padded))
        whole = bld.add(whole, bld.zext(tail, I64))
    groups = bld.select(bld.icmp_signed("!=", shared, I64(0)), whole, I64(0), name="groups")
    with counted_loop(bld, I64(0), groups, "group") as g:
        first = bld.add(start, bld.mul(g, I64(size)))
        last = bld.sub(stop, I64(1))
        positions = [bld.add(first, I64(r)) for r in range(size)]
        if padded:
            positions = [tile.min_i64(bld, p, last, "position") for p in positions]
        emit(positions, tile.min_i64(bld, bld.sub(stop, first), I64(size), "real"))
    return tile.min_i64(bld, bld.add(start, bld.mul(groups, I64(size))), stop, "rest")


def emit_weight_gradients(ctx: grad.GradContext, block: int, tiles):
    """dw partial[e] += n_i * Dz_j for every edge over the group's `tiles` tiles, target by target.

    NOTE: each partial sum is loaded and stored once per group, and folds the
    tiles in order, P lanes at a time, as a tile-by-tile pass would: same bits.
    """
    bld = ctx.builder
    arrays = _InEdges(ctx)
    accs = [entry_alloca(bld, ctx.part_vector, f"dw{k}") for k in range(max(block, _DW_EDGES))]

    segs = ctx.plan_slot(abi.PLAN_SEGS, PTR, "segs")
    n_segs = ctx.plan_slot(abi.PLAN_N_SEGS, I64, "n_segs")
    with counted_loop(bld, I64(0), n_segs, "dw.seg") as s:
        start, stop, _, shared = segment(bld, segs, s)
        rest = for_each_group(ctx, block, start, stop, shared,
                               lambda positions, _: _emit_dw_block(ctx, arrays, accs, tiles, positions))
        with counted_loop(bld, rest, stop, "dw_neuron") as p:
            _emit_dw_neuron(ctx, arrays, accs, tiles, bld.sext(load_i32(bld, arrays.order, p), I64))


class _InEdges:
    """The forward schedule and in-edge lists, for the dw pass."""

    def __init__(self, ctx: TileContext):
        self.order = ctx.plan_slot(abi.PLAN_ORDER, PTR, "order")
        self.in_ptr = ctx.plan_slot(abi.PLAN_IN_PTR, PTR, "in_ptr")
        self.in_src = ctx.plan_slot(abi.PLAN_IN_SRC, PTR, "in_src")


# In-edges of one neuron whose dw partials are folded together.
_DW_EDGES = 4


def _emit_dw_neuron(ctx: grad.GradContext, arrays, accs, tiles, j):
    """Neuron j's in-edges, _DW_EDGES at a time sharing the load of Dz_j, then one at a time."""
    bld = ctx.builder
    begin = load_i64(bld, arrays.in_ptr, j, "e_begin")
    end = load_i64(bld, arrays.in_ptr, bld.add(j, I64(1)), "e_end")

    def edges(first, count):
        sources = [bld.sext(load_i32(bld, arrays.in_src, bld.add(first, I64(k))), I64, name="i")
                   for k in range(count)]
        _fold_products(ctx, accs[:count], tiles, j, sources,
                       [bld.add(first, I64(k)) for k in range(count)], shared_is_source=False)

    steps = bld.sdiv(bld.sub(end, begin), I64(_DW_EDGES))
    with counted_loop(bld, I64(0), steps, "dw_edges") as q:
        edges(bld.add(begin, bld.mul(q, I64(_DW_EDGES))), _DW_EDGES)
    with counted_loop(bld, bld.add(begin, bld.mul(steps, I64(_DW_EDGES))), end, "dw_edge") as e:
        edges(e, 1)


def _emit_dw_block(ctx: grad.GradContext, arrays, accs, tiles, positions):
    """Neurons at `positions` sharing one in-set: each source row loaded once for all their edges."""
    bld = ctx.builder
    neurons = [bld.sext(load_i32(bld, arrays.order, pos), I64, name="j") for pos in positions]
    begins = [load_i64(bld, arrays.in_ptr, j, "e_begin") for j in neurons]
    count = bld.sub(load_i64(bld, arrays.in_ptr, bld.add(neurons[0], I64(1))), begins[0])
    with counted_loop(bld, I64(0), count, "dw_block") as k:
        i = bld.sext(load_i32(bld, arrays.in_src, bld.add(begins[0], k)), I64, name="i")
        _fold_products(ctx, accs[:len(neurons)], tiles, i, neurons,
                       [bld.add(begin, k) for begin in begins], shared_is_source=True)


def _fold_products(ctx: grad.GradContext, accs, tiles, shared, others, edges, shared_is_source):
    """partial[edges[m]] += n_i * Dz_j over the tiles, where (i, j) is (shared, others[m])
    or (others[m], shared): one row shared by every edge, each partial in a register."""
    bld = ctx.builder
    part = ctx.part_vector
    pointers = [ctx.part_ptr(ctx.dw_part, e) for e in edges]
    with bld.if_else(ctx.first_group) as (first, later):
        with first:
            for acc in accs:
                bld.store(ir.Constant(part, None), acc)
        with later:
            for acc, ptr in zip(accs, pointers):
                bld.store(bld.load(ptr, align=32, typ=part), acc)
    fma = tile.vector_intrinsic(bld.module, "llvm.fma", part, 3)

    def chunk(row, k):
        return bld.load(ctx.section(row, I64(k * part.count)), align=32, typ=part)

    with counted_loop(bld, I64(0), tiles, "dw_tile") as t:
        ctx.at_tile(t)
        shared_row = ctx.row(shared, base=None if shared_is_source else ctx.ztile)
        rows = [ctx.row(k, base=ctx.ztile if shared_is_source else None) for k in others]
        # NOTE: the edges' folds (grad.fold) advance together, chunk by chunk,
        # so each chunk of the shared row is loaded once for all of them.
        values = [chunk(shared_row, k) for k in range(ctx.chunks)]
        for acc, row in zip(accs, rows):
            bld.store(grad.fold(bld.load(acc, typ=part), ctx.chunks,
                                lambda k, total, row=row: bld.call(fma, [values[k], chunk(row, k), total])), acc)
    with bld.if_else(ctx.last_group) as (last, earlier):
        with last:
            for k in range(0, len(accs), part.count):
                ctx.store_lane_sums([bld.load(acc, typ=part) for acc in accs[k:k + part.count]],
                                    ctx.dw, edges[k:k + part.count])
        with earlier:
            for acc, ptr in zip(accs, pointers):
                bld.store(bld.load(acc, typ=part), ptr, align=32)
