"""The CSR tier's dw pass: (GradContext, tiles of a group) -> dw partial sums folded, target by target.

After each group of tiles (`grad.backward_function`'s `emit_weights`) it
walks the forward segments and folds `n_i * Dz_j` of every edge over the
group's tiles into the edge's partial sum (`grad.fold`'s order), which is
loaded and stored once per group instead of once per tile: that traffic
(`abi.PARTIAL_BYTES` per edge) bounded the backward pass of big nets. A
segment whose neurons share one in-set runs as register tiles of
`Blocking.dw_neurons` targets x `Blocking.dw_sources` sources; a lone neuron
shares its Dz row among `Blocking.dw_edges` of its in-edges. The segment
walkers are shared with `csr.py`.
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


def emit_weight_gradients(ctx: grad.GradContext, shape, tiles):
    """dw partial[e] += n_i * Dz_j for every edge over the group's `tiles` tiles, target by target.

    A segment whose neurons share one in-set runs as blocks of
    `shape.dw_neurons` neurons x `shape.dw_sources` sources (a `csr.Blocking`),
    one partial sum each in a register: a row chunk loaded feeds every edge of
    its row in the block (an outer product, as a GEMM's register tile), which
    is what bounds this pass (loads per FMA). A lone neuron shares its Dz row
    among up to `shape.dw_edges` in-edges.
    NOTE: each partial sum is loaded and stored once per group, and folds the
    tiles in order, P lanes at a time, as a tile-by-tile pass would: same bits.
    """
    bld = ctx.builder
    arrays = _InEdges(ctx)
    targets, sources = shape.dw_neurons, shape.dw_sources
    accs = [entry_alloca(bld, ctx.part_vector, f"dw{k}")
            for k in range(max(targets * sources, shape.dw_edges))]

    segs = ctx.plan_slot(abi.PLAN_SEGS, PTR, "segs")
    n_segs = ctx.plan_slot(abi.PLAN_N_SEGS, I64, "n_segs")
    with counted_loop(bld, I64(0), n_segs, "dw.seg") as s:
        start, stop, _, shared = segment(bld, segs, s)
        rest = for_each_group(ctx, targets, start, stop, shared,
                               lambda positions, _: _emit_dw_block(ctx, arrays, accs, tiles, positions, sources))
        with counted_loop(bld, rest, stop, "dw_neuron") as p:
            _emit_dw_neuron(ctx, arrays, accs, tiles, bld.sext(load_i32(bld, arrays.order, p), I64),
                            shape.dw_edges)


class _InEdges:
    """The forward schedule and in-edge lists, for the dw pass."""

    def __init__(self, ctx: TileContext):
        self.order = ctx.plan_slot(abi.PLAN_ORDER, PTR, "order")
        self.in_ptr = ctx.plan_slot(abi.PLAN_IN_PTR, PTR, "in_ptr")
        self.in_src = ctx.plan_slot(abi.PLAN_IN_SRC, PTR, "in_src")


def _runs(bld: ir.IRBuilder, begin, end, sizes, label: str, emit):
    """`emit(first, size)` over [begin, end) in runs of sizes[0] while they fit, then of sizes[1], ..."""
    at = begin
    for size in sizes:
        steps = bld.sdiv(bld.sub(end, at), I64(size))
        with counted_loop(bld, I64(0), steps, f"{label}{size}") as q:
            emit(bld.add(at, bld.mul(q, I64(size))), size)
        at = bld.add(at, bld.mul(steps, I64(size)))


def _emit_dw_neuron(ctx: grad.GradContext, arrays, accs, tiles, j, most: int):
    """Neuron j's in-edges, `most` (then half as many, then one) at a time sharing the load of Dz_j."""
    bld = ctx.builder
    begin = load_i64(bld, arrays.in_ptr, j, "e_begin")
    end = load_i64(bld, arrays.in_ptr, bld.add(j, I64(1)), "e_end")

    def edges(first, count):
        positions = [bld.add(first, I64(k)) for k in range(count)]
        sources = [bld.sext(load_i32(bld, arrays.in_src, e), I64, name="i") for e in positions]
        _fold_products(ctx, accs, tiles, sources, [j], [[e] for e in positions])

    _runs(bld, begin, end, sorted({most, max(1, most // 2), 1}, reverse=True), "dw_edges", edges)


def _emit_dw_block(ctx: grad.GradContext, arrays, accs, tiles, positions, most: int):
    """Neurons at `positions` sharing one in-set, `most` (then one) of its sources at a time."""
    bld = ctx.builder
    neurons = [bld.sext(load_i32(bld, arrays.order, pos), I64, name="j") for pos in positions]
    begins = [load_i64(bld, arrays.in_ptr, j, "e_begin") for j in neurons]
    count = bld.sub(load_i64(bld, arrays.in_ptr, bld.add(neurons[0], I64(1))), begins[0])

    last = bld.sub(count, I64(1))

    def source(k):
        return bld.sext(load_i32(bld, arrays.in_src, bld.add(begins[0], k)), I64, name="i")

    def sources(first, size):
        ks = [bld.add(first, I64(s)) for s in range(size)]
        # NOTE: the next run's source rows are prefetched in every tile of the group: they lie
        # one section apart, too far for the hardware's prefetchers (dense backward 2-4% faster,
        # measured; the same for a lone neuron's sources made random DAGs slower, so not there).
        ahead = [source(tile.min_i64(bld, bld.add(k, I64(size)), last, "next")) for k in ks]
        _fold_products(ctx, accs, tiles, [source(k) for k in ks], neurons,
                       [[bld.add(b, k) for b in begins] for k in ks], ahead)

    _runs(bld, I64(0), count, sorted({most, 1}, reverse=True), "dw_block", sources)


def _prefetch(bld: ir.IRBuilder, pointer):
    """Ask for the cache line at `pointer` (a read, kept in every level)."""
    i32 = ir.IntType(32)
    name = "llvm.prefetch.p0"
    fn = bld.module.globals.get(name) or ir.Function(
        bld.module, ir.FunctionType(ir.VoidType(), [PTR, i32, i32, i32]), name=name)
    bld.call(fn, [pointer, i32(0), i32(3), i32(1)])


def _fold_products(ctx: grad.GradContext, accs, tiles, sources, targets, edges, ahead=()):
    """partial[edges[s][t]] += n_i * Dz_j over the tiles for each source i = sources[s] and target
    j = targets[t]: each row's chunk loaded once for all its edges, each partial in a register;
    the n rows of the sources `ahead` are prefetched in each tile."""
    bld = ctx.builder
    part = ctx.part_vector
    cells = [(s, t) for s in range(len(sources)) for t in range(len(targets))]
    accs = accs[:len(cells)]
    pointers = [ctx.part_ptr(ctx.dw_part, edges[s][t]) for s, t in cells]
    with bld.if_else(ctx.first_group) as (first, later):
        with first:
            for acc in accs:
                bld.store(ir.Constant(part, None), acc)
        with later:
            for acc, ptr in zip(accs, pointers):
                bld.store(bld.load(ptr, align=32, typ=part), acc)
    fma = tile.vector_intrinsic(bld.module, "llvm.fma", part, 3)

    def chunks(row):
        return [bld.load(ctx.section(row, I64(k * part.count)), align=32, typ=part) for k in range(ctx.chunks)]

    with counted_loop(bld, I64(0), tiles, "dw_tile") as t:
        ctx.at_tile(t)
        for i in ahead:
            row = ctx.row(i)
            for line in range(0, ctx.lanes * ctx.align, 64):
                _prefetch(bld, ctx.section(row, I64(line // ctx.align)))
        n = [chunks(ctx.row(i)) for i in sources]
        dz = [chunks(ctx.row(j, base=ctx.ztile)) for j in targets]
        # NOTE: every edge's fold (grad.fold) visits its chunks in order; the
        # edges of the block advance side by side over the loaded chunks.
        for acc, (s, t) in zip(accs, cells):
            bld.store(grad.fold(bld.load(acc, typ=part), ctx.chunks,
                                lambda k, total, s=s, t=t: bld.call(fma, [n[s][k], dz[t][k], total])), acc)
    edge_ids = [edges[s][t] for s, t in cells]
    with bld.if_else(ctx.last_group) as (last, earlier):
        with last:
            for k in range(0, len(accs), part.count):
                ctx.store_lane_sums([bld.load(acc, typ=part) for acc in accs[k:k + part.count]],
                                    ctx.dw, edge_ids[k:k + part.count])
        with earlier:
            for acc, ptr in zip(accs, pointers):
                bld.store(bld.load(acc, typ=part), ptr, align=32)
