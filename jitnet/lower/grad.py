"""The reverse-mode skeleton every tier shares: (forward body, reverse body) -> the backward ir.Functions.

    void jitnet_backward(T* x, T* w, T* b, T* dy, T* dx, T* dw, T* db,
                         i64 batch, T* scratch, ptr plan)
    void jitnet_loss_and_grad(T* x, T* w, T* b, void* target, i64 loss_kind,
                              double* loss, T* dw, T* db, i64 batch, T* scratch, ptr plan)

compute the VJP (SPEC §1, §4): per tile of the batch they run the tier's
forward body keeping every pre-activation z, seed Dn at the outputs (with dy,
or with dL/dy of a loss of the tile's outputs: `loss.py`), then the tier's
reverse body walks the schedule backwards:
`Dn_i = fma(w_ij, Dz_j, Dn_i)` over i's out-edges in ascending j, then
`Dz_i = Dn_i * f_i'(z_i)`. `dx` is Dn at the inputs, bit for bit the same in
every tier, batch split and thread count.

`dw` and `db` are sums over the batch. Summing each edge's lanes once per
tile would cost a horizontal reduction per edge per tile; instead each edge
keeps a partial sum of P lanes in scratch (`dw_ij` += n_i * Dz_j folded
from the tile's lanes with FMAs in a fixed order: tile by tile, P lanes at a
time), reduced once at the end of the call. The order is fixed, so the sums
are bit-identical for the same batch and split.

Tiles run in groups of G (the plan's `PLAN_GRAD_TILES`, chosen by
`abi.tiles_per_group`), each tile with its own n and z sections, so a tier
may take dw once per group (`emit_weights`)
and read and write each partial sum once per G tiles instead of once per
tile: that traffic is what bounds the backward pass of a big net.

Scratch is laid out as `abi.BACKWARD_SCRATCH`: G x (n | z, then Dz) |
seeds | dw partials | db partials | weights in out-edge order (for an input
neuron the z/Dz row holds Dn_i, i.e. dx).

The fold of a tile into a partial sum has one bit-exact form, `fold`, which
both tiers follow (the SSA tier writes the same steps as text).

Both entries are thin calls of one internal function, `jitnet_vjp`, whose
`loss_kind` argument picks the seeding per tile (0: dy, and dx is written;
else a loss, no dx, the loss reduced once at the end): the tier's bodies are
emitted once, so the gradient module compiles in the time it took before the
fused loss existed.
"""

from llvmlite import ir

from . import abi, loss, tile
from .tile import I32, I64, PTR, TileContext, counted_loop, entry_alloca


def fold(acc, chunks: int, term):
    """The partial-sum fold, tile by tile: `acc = term(k, acc)` for the tile's lane chunks
    k = 0 .. chunks-1 in ascending order (chunk k: lanes [k*P, (k+1)*P)).

    `term` is `fma(n_chunk, dz_chunk, acc)` for dw and `acc + dz_chunk` for db;
    every tier folds in this order and with these forms, so dw and db have the
    same bits in every tier and for every tile group size.
    """
    for k in range(chunks):
        acc = term(k, acc)
    return acc


class GradContext(TileContext):
    """A TileContext plus the backward pass's sections of scratch."""

    # Set by the group loop when the weight gradients are taken once per group.
    dw: ir.Value
    first_group: ir.Value
    last_group: ir.Value

    def attach(self, sections, n_neurons, at: dict):
        """Point the context at the group's sections and at the sections of `at` (name -> pointer)."""
        self.sections, self.n_neurons = sections, n_neurons
        self.seeds, self.targets, self.exps = at["seeds"], at["targets"], at["exps"]
        self.dw_part, self.db_part, self.w_out = at["dw_part"], at["db_part"], at["w_out"]
        self.part_vector = ir.VectorType(self.scalar, abi.precision(self.dtype).partial_lanes)
        self.tile_offsets = self.offsets(abi.FORWARD_SCRATCH, n_neurons=n_neurons)
        return self

    def at_tile(self, t: ir.Value):
        """Point `tile` and `ztile` at the sections of tile t of the group."""
        self.tile = self.section(self.sections, self.builder.mul(t, self.tile_offsets["size"]))
        self.ztile = self.section(self.tile, self.tile_offsets["z"])

    @property
    def chunks(self) -> int:
        """Lane chunks of P lanes in a tile row."""
        return self.lanes // self.part_vector.count

    def chunk(self, value: ir.Value, k: int) -> ir.Value:
        """Lanes [k*P, (k+1)*P) of a tile vector."""
        part = self.part_vector.count
        mask = ir.Constant(ir.VectorType(I32, part), list(range(k * part, (k + 1) * part)))
        return self.builder.shuffle_vector(value, value, mask)

    def part_ptr(self, base: ir.Value, index: ir.Value) -> ir.Value:
        bld = self.builder
        return bld.gep(base, [bld.mul(index, I64(self.part_vector.count))], inbounds=True,
                       source_etype=self.scalar)

    def accumulate_sum(self, j: ir.Value, dz_j: ir.Value):
        """db partial[j] += Dz_j, folded lane chunk by lane chunk."""
        bld = self.builder
        ptr = self.part_ptr(self.db_part, j)
        acc = fold(bld.load(ptr, align=32, typ=self.part_vector), self.chunks,
                   lambda k, acc: bld.fadd(acc, self.chunk(dz_j, k)))
        bld.store(acc, ptr, align=32)

    def store_lane_sums(self, vectors, out: ir.Value, indices):
        """out[indices[m]] = the sum of the P lanes of partial sum vectors[m] (at most P of them).

        NOTE: the lanes are added pairwise, ((l0+l1)+(l2+l3))+((l4+l5)+(l6+l7)),
        and P vectors at once: each step adds the even and odd lanes of two
        vectors side by side, so P sums cost log2(P) shuffle-and-add steps
        instead of P-1 dependent adds each. Every tier reduces this way.
        """
        bld = self.builder
        part = self.part_vector.count
        level = list(vectors) + [ir.Constant(self.part_vector, None)] * (part - len(vectors))
        even = ir.Constant(ir.VectorType(I32, part), list(range(0, 2 * part, 2)))
        odd = ir.Constant(ir.VectorType(I32, part), list(range(1, 2 * part, 2)))
        while len(level) > 1:
            level = [bld.fadd(bld.shuffle_vector(a, b, even), bld.shuffle_vector(a, b, odd))
                     for a, b in zip(level[::2], level[1::2])]
        for m, index in enumerate(indices):
            bld.store(bld.extract_element(level[0], I32(m)),
                      bld.gep(out, [index], inbounds=True, source_etype=self.scalar), align=self.align)

    def seed_or_zero(self, i: ir.Value) -> ir.Value:
        """Dn_i's start: its seed row (dy) when i is read out, else 0."""
        bld = self.builder
        seed_row = self.plan_slot(abi.PLAN_SEED_ROW, PTR)
        row = tile.index_at(self, seed_row, i)
        has = bld.icmp_signed(">=", row, I64(0))
        safe = bld.select(has, row, I64(0))
        seed = self.load_row(safe, base=self.seeds)
        return bld.select(has, seed, ir.Constant(self.vector, None))


# The internal function both entries call: the backward entry's arguments with
# `source` (dy or the target), `loss_kind` (abi.SEEDS_FROM_DY or abi.LOSS_KINDS)
# and `loss` (double*) in place of dy.
_VJP_ARGUMENTS = (("x", PTR), ("w", PTR), ("b", PTR), ("source", PTR), ("loss_kind", I64), ("loss", PTR),
                  ("dx", PTR), ("dw", PTR), ("db", PTR), ("batch", I64), ("scratch", PTR), ("plan", PTR))


def backward_function(module: ir.Module, dtype: str, emit_forward, emit_reverse,
                      emit_weights=None) -> ir.Function:
    """Define `jitnet_backward` and `jitnet_loss_and_grad` in `module` from a tier's forward and
    reverse body emitters; returns the backward entry.

    Without `emit_weights` the reverse body takes dw itself, tile by tile.
    With it, `emit_weights(ctx, tiles)` takes every dw once per group of
    `tiles` tiles (`ctx.at_tile(t)` selects one): it starts each partial sum
    from zero in the first group (`ctx.first_group`) and writes `dw` itself
    in the last (`ctx.last_group`, `ctx.dw`), so a call of one group never
    touches the partial sums in memory. The weights are also
    copied once per call in out-edge order into `ctx.w_out`, where the
    reverse body finds a neuron's out-weights contiguous.
    """
    vjp = _vjp_function(module, dtype, emit_forward, emit_reverse, emit_weights)
    nowhere = ir.Constant(PTR, None)
    backward = tile.entry_function(module, abi.BACKWARD)
    x, w, b, dy, dx, dw, db, batch, scratch, plan = backward.args
    _call(backward, vjp, [x, w, b, dy, I64(abi.SEEDS_FROM_DY), nowhere, dx, dw, db, batch, scratch, plan])
    fused = tile.entry_function(module, abi.LOSS_AND_GRAD)
    x, w, b, target, kind, loss_out, dw, db, batch, scratch, plan = fused.args
    _call(fused, vjp, [x, w, b, target, kind, loss_out, nowhere, dw, db, batch, scratch, plan])
    return backward


def _call(entry: ir.Function, vjp: ir.Function, args):
    bld = ir.IRBuilder(entry.append_basic_block("entry"))
    bld.call(vjp, args)
    bld.ret_void()


def _vjp_function(module: ir.Module, dtype: str, emit_forward, emit_reverse, emit_weights) -> ir.Function:
    """The internal `jitnet_vjp`: the whole backward pass, seeded as its `loss_kind` says."""
    fn = ir.Function(module, ir.FunctionType(ir.VoidType(), [t for _, t in _VJP_ARGUMENTS]), name="jitnet_vjp")
    fn.linkage = "internal"
    # NOTE: never inlined into the two entries: that would emit the tiers' bodies twice.
    fn.attributes.add("noinline")
    for arg, (name, typ) in zip(fn.args, _VJP_ARGUMENTS):
        arg.name = name
        if typ == PTR:
            arg.add_attribute("noalias")
    x, w, b, source, kind, loss_out, dx, dw, db, batch, scratch, plan = fn.args
    scalar = tile.scalar_type(dtype)
    lanes = abi.precision(dtype).lanes
    bld = ir.IRBuilder(fn.append_basic_block("entry"))
    ctx = GradContext(bld, dtype, lanes, scalar, ir.VectorType(scalar, lanes), w, b, scratch, plan)
    n_neurons = ctx.plan_slot(abi.PLAN_N_NEURONS, I64, "n_neurons")
    n_weights = ctx.plan_slot(abi.PLAN_N_WEIGHTS, I64, "n_weights")
    n_seeds = ctx.plan_slot(abi.PLAN_N_SEED_ROWS, I64, "n_seed_rows")
    group = ctx.plan_slot(abi.PLAN_GRAD_TILES, I64, "group")
    at = ctx.offsets(abi.BACKWARD_SCRATCH, n_neurons=n_neurons, n_weights=n_weights, n_seed_rows=n_seeds,
                     n_outputs=ctx.plan_slot(abi.PLAN_N_OUTPUTS, I64, "n_outputs"), group=group)
    named = ("seeds", "targets", "exps", "dw_part", "db_part", "w_out")
    ctx.attach(ctx.section(scratch, at["sections"]), n_neurons, {k: ctx.section(scratch, at[k]) for k in named})
    dw_part, db_part = ctx.dw_part, ctx.db_part
    if emit_weights is None:
        _zero_partials(ctx, dw_part, bld.add(n_weights, n_neurons))
    else:
        _zero_partials(ctx, db_part, n_neurons)
        _weights_by_out_edge(ctx, n_weights)
        ctx.dw = dw
    from_dy = bld.icmp_signed("==", kind, I64(abi.SEEDS_FROM_DY), name="from_dy")
    wide = ir.VectorType(ir.DoubleType(), lanes)
    loss_lanes = entry_alloca(bld, wide, "loss_lanes")
    bld.store(ir.Constant(wide, None), loss_lanes)

    n_tiles = bld.udiv(bld.add(batch, I64(lanes - 1)), I64(lanes), name="n_tiles")
    n_groups = bld.udiv(bld.add(n_tiles, bld.sub(group, I64(1))), group, name="n_groups")
    with counted_loop(bld, I64(0), n_groups, "group") as g:
        first_tile = bld.mul(g, group)
        tiles = tile.min_i64(bld, bld.sub(n_tiles, first_tile), group, "tiles")
        with counted_loop(bld, I64(0), tiles, "tile") as t:
            ctx.at_tile(t)
            first = bld.mul(bld.add(first_tile, t), I64(lanes), name="first")
            count = tile.min_i64(bld, bld.sub(batch, first), I64(lanes), "count")
            tile.load_inputs(ctx, x, first, count)
            emit_forward(ctx)
            _clear_padding(ctx, n_neurons, count)
            _zero_seeds(ctx, n_seeds)
            with bld.if_else(from_dy) as (given, fused):
                with given:
                    _load_seeds(ctx, source, first, count)
                with fused:
                    loss.emit_seeds(ctx, source, kind, first, count, loss_lanes)
            emit_reverse(ctx)
            with bld.if_then(from_dy):
                inputs = ctx.plan_slot(abi.PLAN_INPUTS, PTR, "inputs")
                n_in = ctx.plan_slot(abi.PLAN_N_INPUTS, I64, "n_inputs")
                tile.transpose_out(ctx, dx, inputs, n_in, first, count, base=ctx.ztile)
        if emit_weights is not None:
            ctx.first_group = bld.icmp_signed("==", g, I64(0))
            ctx.last_group = bld.icmp_signed("==", g, bld.sub(n_groups, I64(1)))
            emit_weights(ctx, tiles)
    if emit_weights is None:
        _reduce(ctx, dw_part, dw, n_weights)
    _reduce(ctx, db_part, db, n_neurons)
    with bld.if_then(bld.not_(from_dy)):
        total = loss.lane_sum(bld, bld.load(loss_lanes, typ=wide))
        mse = bld.icmp_signed("==", kind, I64(abi.LOSS_KINDS["mse", "rows"]))
        # NOTE: mse's 0.5 multiplies the whole sum once, as numpy's 0.5 * sum((y - t)^2) does.
        total = bld.select(mse, bld.fmul(total, ir.Constant(ir.DoubleType(), 0.5)), total)
        bld.store(total, loss_out, align=8)
    bld.ret_void()
    return fn


def _weights_by_out_edge(ctx: GradContext, n_weights):
    """w_out[k] = w[out_edge[k]]: each neuron's out-weights, contiguous in ascending target."""
    bld = ctx.builder
    out_edge = ctx.plan_slot(abi.PLAN_OUT_EDGE, PTR, "out_edge")
    with counted_loop(bld, I64(0), n_weights, "w_out") as k:
        value = ctx.load_scalar(ctx.w, tile.index_at(ctx, out_edge, k))
        bld.store(value, bld.gep(ctx.w_out, [k], inbounds=True, source_etype=ctx.scalar),
                  align=ctx.align)


def _zero_partials(ctx: GradContext, base, count):
    """Zero `count` partial sums of P lanes from `base`."""
    bld = ctx.builder
    zero = ir.Constant(ctx.part_vector, None)
    with counted_loop(bld, I64(0), count, "zero_part") as k:
        bld.store(zero, ctx.part_ptr(base, k), align=32)


def _clear_padding(ctx: TileContext, n_neurons, count):
    """Zero n and z in the lanes past the batch, so they add exactly 0 to dw and db.

    NOTE: padding lanes carry x = 0 and dy = 0, but their n or z could still
    overflow for extreme weights, and 0 * inf would poison the sums.
    """
    bld = ctx.builder
    with bld.if_then(bld.icmp_signed("<", count, I64(ctx.lanes))):
        with counted_loop(bld, I64(0), n_neurons, "pad_row") as j:
            with counted_loop(bld, count, I64(ctx.lanes), "pad_lane") as lane:
                cell = bld.add(bld.mul(j, I64(ctx.lanes)), lane)
                for section in (ctx.tile, ctx.ztile):
                    bld.store(ir.Constant(ctx.scalar, 0.0),
                              bld.gep(section, [cell], inbounds=True, source_etype=ctx.scalar),
                              align=ctx.align)


def _zero_seeds(ctx: GradContext, n_seeds):
    with counted_loop(ctx.builder, I64(0), n_seeds, "seed_zero") as r:
        ctx.store_row(ir.Constant(ctx.vector, None), r, base=ctx.seeds)


def _load_seeds(ctx: GradContext, dy, first, count):
    """seeds[seed_of_output[k]][l] += dy[first + l][k] in ascending k (seeds zeroed): a neuron read out
    twice gets both.

    NOTE: a full tile takes dy in square blocks (`tile.transpose`), adding
    each block's columns into the seed rows in ascending k, as the lane-by-lane
    path does, so the sums are the same bits.
    """
    bld = ctx.builder
    seed_of = ctx.plan_slot(abi.PLAN_SEED_OF_OUTPUT, PTR, "seed_of_output")
    n_out = ctx.plan_slot(abi.PLAN_N_OUTPUTS, I64, "n_outputs")
    square = tile.square_side(ctx)
    full = bld.icmp_signed("==", count, I64(ctx.lanes))
    blocks = bld.select(full, bld.udiv(n_out, I64(square)), I64(0), name="seed_blocks")
    column = bld.gep(dy, [bld.mul(first, n_out)], inbounds=True, source_etype=ctx.scalar)
    with counted_loop(bld, I64(0), blocks, "seed_block") as q:
        k0 = bld.mul(q, I64(square))
        rows = [ctx.row(tile.index_at(ctx, seed_of, bld.add(k0, I64(c))), base=ctx.seeds) for c in range(square)]
        for group in range(ctx.lanes // square):
            loaded = [tile.load_part(ctx, column, bld.add(bld.mul(I64(group * square + r), n_out), k0), square)
                      for r in range(square)]
            for row, part in zip(rows, tile.transpose(bld, loaded)):
                old = tile.load_part(ctx, row, I64(group * square), square, aligned=True)
                tile.store_part(ctx, bld.fadd(old, part), row, group * square)
    done = bld.mul(blocks, I64(square), name="seeds_done")
    with counted_loop(bld, I64(0), count, "seed_lane") as lane:
        start = bld.mul(bld.add(first, lane), n_out)
        with counted_loop(bld, done, n_out, "seed") as k:
            value = bld.load(bld.gep(dy, [bld.add(start, k)], inbounds=True, source_etype=ctx.scalar),
                             align=ctx.align, typ=ctx.scalar)
            cell = bld.add(bld.mul(tile.index_at(ctx, seed_of, k), I64(ctx.lanes)), lane)
            ptr = bld.gep(ctx.seeds, [cell], inbounds=True, source_etype=ctx.scalar)
            old = bld.load(ptr, align=ctx.align, typ=ctx.scalar)
            bld.store(bld.fadd(old, value), ptr, align=ctx.align)


def _reduce(ctx: GradContext, partials, out, count):
    """out[e] = the sum of partials[e][0..P) (see `store_lane_sums`)."""
    bld = ctx.builder
    with counted_loop(bld, I64(0), count, "reduce") as e:
        vector = bld.load(ctx.part_ptr(partials, e), align=32, typ=ctx.part_vector)
        ctx.store_lane_sums([vector], out, [e])
