"""The batch-tile skeleton every tier shares: (tier body emitter) -> the forward ir.Function.

Activations live neuron-major in a scratch tile, `tile[neuron * LANES + lane]`,
so one edge of the net is one vector FMA for LANES samples at once and a
sparse gather is a contiguous vector load. This module emits the parts that do
not depend on the tier: the loop over tiles of the batch, the transposition of
inputs into the tile and of outputs out of it (partial last tile included),
and the entries `native/runtime.py` calls, as `abi.py` defines them:

    void NAME(T* x, T* w, T* b, T* y, i64 batch, T* tile, ptr plan)

`tile` is scratch laid out as `abi.FORWARD_SCRATCH` (n, then z: a tier may
keep pre-activations there). `plan` is the array of 8-byte slots
(`abi.PLAN_*`) that `native/plan.py` fills with the net's index arrays and
counts, so that a tier which reads the topology at run time can be compiled
once for every net with the same activation codes.
"""

from dataclasses import dataclass
from typing import Optional

from llvmlite import ir

from . import abi

I32 = ir.IntType(32)
I64 = ir.IntType(64)
PTR = ir.PointerType()
# The IR type of each argument kind of `abi.ENTRIES`.
_KIND_TYPES = {abi.ARRAY: PTR, abi.COUNT: I64, abi.SCRATCH: PTR, abi.PLAN: PTR, abi.DATA: PTR}


def entry_function(module: ir.Module, name: str, entry: Optional[str] = None) -> ir.Function:
    """Declare `name` in `module` with the signature `abi.ENTRIES[entry or name]`: arguments named,
    every pointer `noalias`."""
    signature = abi.ENTRIES[entry or name]
    result = _KIND_TYPES[abi.RESULTS[name]] if name in abi.RESULTS else ir.VoidType()
    fn = ir.Function(module, ir.FunctionType(result, [_KIND_TYPES[k] for _, k in signature]), name=name)
    for arg, (arg_name, kind) in zip(fn.args, signature):
        arg.name = arg_name
        if kind != abi.COUNT:
            arg.add_attribute("noalias")
    return fn


def scalar_type(dtype: str) -> ir.Type:
    return {"float": ir.FloatType, "double": ir.DoubleType}[abi.precision(dtype).ir_type]()


@dataclass
class TileContext:
    """What a tier's body emitter gets: the builder and the values of the current tile."""

    builder: ir.IRBuilder
    dtype: str
    lanes: int
    scalar: ir.Type
    vector: ir.Type
    w: ir.Value
    b: ir.Value
    tile: ir.Value
    plan: ir.Value
    ztile: ir.Value = None   # where pre-activations z are kept (the section after n)

    @property
    def align(self) -> int:
        """Alignment of a scalar in a user's numpy buffer."""
        return abi.precision(self.dtype).itemsize

    def offsets(self, layout: abi.Layout, **counts: ir.Value) -> dict:
        """The sections of `layout` (see `abi.scratch_offsets`) as i64 element offsets."""
        p = abi.precision(self.dtype)
        known: dict = dict(counts, lanes=I64(self.lanes), partial_lanes=I64(p.partial_lanes),
                           f64_items=I64(p.f64_items))
        bld = self.builder
        return abi.scratch_offsets(layout, lambda f: I64(f) if isinstance(f, int) else known[f],
                                   bld.mul, bld.add)

    def section(self, base: ir.Value, offset: ir.Value) -> ir.Value:
        """Pointer `offset` elements after `base`."""
        return self.builder.gep(base, [offset], inbounds=True, source_etype=self.scalar)

    def row(self, j: ir.Value, base: ir.Value = None) -> ir.Value:
        """Pointer to neuron j's row (j an i64) of the tile, or of another N x lanes section."""
        bld = self.builder
        return bld.gep(self.tile if base is None else base, [bld.mul(j, I64(self.lanes))],
                       inbounds=True, source_etype=self.scalar)

    @property
    def row_align(self) -> int:
        """Alignment of a tile row: the tile is 64-byte aligned, a row lanes x itemsize long."""
        return min(abi.TILE_ALIGN, self.lanes * self.align)

    def load_row(self, j: ir.Value, name: str = "", base: ir.Value = None) -> ir.Value:
        return self.builder.load(self.row(j, base), name=name, align=self.row_align, typ=self.vector)

    def store_row(self, value: ir.Value, j: ir.Value, base: ir.Value = None):
        self.builder.store(value, self.row(j, base), align=self.row_align)

    def splat(self, scalar_value: ir.Value, name: str = "", lanes: Optional[int] = None) -> ir.Value:
        """The scalar in every lane of a tile vector, or of a `lanes`-wide one
        (one insertelement + a zero-mask shufflevector)."""
        bld = self.builder
        one = bld.insert_element(ir.Constant(ir.VectorType(self.scalar, 1), None),
                                 scalar_value, I32(0))
        mask = ir.Constant(ir.VectorType(I32, lanes or self.lanes), None)
        return bld.shuffle_vector(one, one, mask, name=name)

    def load_scalar(self, base: ir.Value, index: ir.Value, name: str = "") -> ir.Value:
        bld = self.builder
        ptr = bld.gep(base, [index], inbounds=True, source_etype=self.scalar)
        return bld.load(ptr, name=name, align=self.align, typ=self.scalar)

    def plan_slot(self, slot: int, typ: ir.Type, name: str = "") -> ir.Value:
        bld = self.builder
        ptr = bld.gep(self.plan, [I64(slot)], inbounds=True, source_etype=I64)
        return bld.load(ptr, name=name, align=8, typ=typ)

    def fma(self, a: ir.Value, b: ir.Value, c: ir.Value, name: str = "") -> ir.Value:
        """a * b + c rounded once, on vectors of any width (the type of `a`)."""
        # NOTE: llvm.fma, never fmul+fadd or contraction flags: SPEC §1 fixes one
        # rounding per edge, the same in every tier.
        return self.builder.call(vector_intrinsic(self.builder.module, "llvm.fma", a.type, 3),
                                 [a, b, c], name=name)


def vector_intrinsic(module: ir.Module, name: str, vector: ir.VectorType, arity: int) -> ir.Function:
    """Declare (once) an overloaded intrinsic on a vector type, e.g. `llvm.fma.v32f32`."""
    dtype = {"float": "float32", "double": "float64"}[str(vector.element)]
    suffix = f"v{vector.count}{abi.precision(dtype).suffix}"
    full = f"{name}.{suffix}"
    if full in module.globals:
        return module.globals[full]
    return ir.Function(module, ir.FunctionType(vector, [vector] * arity), name=full)


def counted_loop(builder: ir.IRBuilder, start: ir.Value, stop: ir.Value, name: str):
    """A `for (k = start; k < stop; k++)` loop; yields k with the builder inside the body."""
    return _Loop(builder, start, stop, name)


class _Loop:
    def __init__(self, builder, start, stop, name):
        self.builder, self.start, self.stop, self.name = builder, start, stop, name

    def __enter__(self):
        bld = self.builder
        self.pre = bld.block
        self.head = bld.append_basic_block(f"{self.name}.head")
        self.body = bld.append_basic_block(f"{self.name}.body")
        self.exit = bld.append_basic_block(f"{self.name}.exit")
        bld.branch(self.head)
        bld.position_at_end(self.head)
        self.k = bld.phi(self.start.type, name=self.name)
        self.k.add_incoming(self.start, self.pre)
        bld.cbranch(bld.icmp_signed("<", self.k, self.stop), self.body, self.exit)
        bld.position_at_end(self.body)
        return self.k

    def __exit__(self, *exc):
        if exc[0] is not None:
            return False
        bld = self.builder
        nxt = bld.add(self.k, ir.Constant(self.k.type, 1), name=f"{self.name}.next")
        self.k.add_incoming(nxt, bld.block)
        bld.branch(self.head)
        bld.position_at_end(self.exit)
        return False


def forward_function(module: ir.Module, dtype: str, emit_body, lanes: Optional[int] = None,
                     name: str = abi.FORWARD) -> ir.Function:
    """Define the forward entry `name` (and `name` + `_objects`; for the narrow forward also
    `name` + `_checked`) in `module`.

    `emit_body(ctx)` emits one tile's neuron updates; `lanes` defaults to the dtype's tile lanes.
    """
    scalar = scalar_type(dtype)
    lanes = lanes or abi.precision(dtype).lanes
    fn = entry_function(module, name)
    x, w, b, y, batch, tile, plan = fn.args
    bld = ir.IRBuilder(fn.append_basic_block("entry"))
    ctx = TileContext(bld, dtype, lanes, scalar, ir.VectorType(scalar, lanes), w, b, tile, plan)
    sections = ctx.offsets(abi.FORWARD_SCRATCH, n_neurons=ctx.plan_slot(abi.PLAN_N_NEURONS, I64, "n_neurons"))
    ctx.ztile = ctx.section(tile, sections["z"])

    n_tiles = bld.udiv(bld.add(batch, I64(lanes - 1)), I64(lanes), name="n_tiles")
    with counted_loop(bld, I64(0), n_tiles, "tile") as t:
        first = bld.mul(t, I64(lanes), name="first")
        count = min_i64(bld, bld.sub(batch, first), I64(lanes), "count")
        load_inputs(ctx, x, first, count)
        emit_body(ctx)
        outputs = ctx.plan_slot(abi.PLAN_OUTPUTS, PTR, "outputs")
        n_out = ctx.plan_slot(abi.PLAN_N_OUTPUTS, I64, "n_outputs")
        transpose_out(ctx, y, outputs, n_out, first, count)
    bld.ret_void()
    objects_wrapper(module, fn)
    if name == abi.FORWARD_NARROW:
        checked_wrapper(module, fn, dtype, lanes)
    return fn


def objects_wrapper(module: ir.Module, forward: ir.Function) -> ir.Function:
    """`<forward>_objects`: `forward` taking numpy array objects for its `abi.ARRAY` arguments.

    NOTE: small calls are dominated by Python's cost of asking numpy for a
    buffer's address (~2 us each); passing the array objects themselves (ctypes
    `py_object`, no conversion) and reading the data pointer at the byte offset
    the runtime measured and put in the plan costs nothing. The runtime only
    uses this entry after checking that offset on this numpy.
    """
    fn = entry_function(module, forward.name + abi.OBJECTS_SUFFIX, forward.name)
    bld = ir.IRBuilder(fn.append_basic_block("entry"))
    plan = fn.args[[k for _, k in abi.ENTRIES[forward.name]].index(abi.PLAN)]
    offset = bld.load(bld.gep(plan, [I64(abi.PLAN_DATA_OFFSET)], inbounds=True, source_etype=I64),
                      align=8, typ=I64)
    args = []
    for arg, (_, kind) in zip(fn.args, abi.ENTRIES[forward.name]):
        if kind == abi.ARRAY:
            field = bld.gep(arg, [offset], inbounds=True, source_etype=ir.IntType(8))
            arg = bld.load(field, align=8, typ=PTR)
        args.append(arg)
    bld.call(forward, args)
    bld.ret_void()
    return fn


def checked_wrapper(module: ir.Module, forward: ir.Function, dtype: str, lanes: int) -> ir.Function:
    """`<forward>_checked`: `forward` for calls of 1 .. `lanes` samples, checking its array objects
    itself and running on a tile on its own stack (see `abi.CHECKED_SUFFIX`).

    NOTE: a batch-1 call costs a few microseconds, most of them Python's:
    the argument checks and the ctypes call of seven arguments. Here one
    call of five takes numpy's own arrays and checks what the runtime's checks
    would (ndarray type, the net's dtype object, C order, aligned, y
    writable, every shape), reading the fields `abi.ARRAY_*` name, so a
    Python caller needs no checks of its own: anything else returns 1 before
    a buffer is touched, and the caller takes its checked path, which gives
    the same results or the error.
    """
    fn = entry_function(module, forward.name + abi.CHECKED_SUFFIX)
    x, w, b, y, plan = fn.args
    bld = ir.IRBuilder(fn.append_basic_block("entry"))
    refuse = fn.append_basic_block("refuse")
    with bld.goto_block(refuse):
        bld.ret(I64(1))

    def slot(k):
        return bld.load(bld.gep(plan, [I64(k)], inbounds=True, source_etype=I64), align=8, typ=I64)

    def field(obj, offset, typ):
        return bld.load(bld.gep(obj, [offset], inbounds=True, source_etype=ir.IntType(8)), align=4, typ=typ)

    def require(condition, name):
        ok = fn.append_basic_block(name)
        bld.cbranch(condition, ok, refuse)
        bld.position_at_end(ok)

    data = slot(abi.PLAN_DATA_OFFSET)
    array_type, descr = slot(abi.PLAN_ARRAY_TYPE), slot(abi.PLAN_DESCR)
    n = {k: slot(s) for k, s in (("in", abi.PLAN_N_INPUTS), ("out", abi.PLAN_N_OUTPUTS),
                                 ("neurons", abi.PLAN_N_NEURONS), ("weights", abi.PLAN_N_WEIGHTS))}

    def at(offset):
        return bld.add(data, I64(offset))

    def dims(obj):
        return field(obj, at(abi.ARRAY_DIMS), PTR)

    def dim(obj, k):
        return load_i64(bld, dims(obj), I64(k))

    def nd_is(obj, count):
        return bld.icmp_signed("==", field(obj, at(abi.ARRAY_ND), I32), I32(count))

    flags = abi.ARRAY_C_CONTIGUOUS | abi.ARRAY_ALIGNED
    for obj, mask in ((x, flags), (w, flags), (b, flags), (y, flags | abi.ARRAY_WRITEABLE)):
        same_type = bld.icmp_signed("==", field(obj, I64(abi.OBJECT_TYPE), I64), array_type)
        same_dtype = bld.icmp_signed("==", field(obj, at(abi.ARRAY_DESCR), I64), descr)
        laid_out = bld.icmp_signed("==", bld.and_(field(obj, at(abi.ARRAY_FLAGS), I32), I32(mask)), I32(mask))
        require(bld.and_(bld.and_(same_type, same_dtype), laid_out), f"{obj.name}.array")
    for obj, count in ((w, n["weights"]), (b, n["neurons"])):
        require(nd_is(obj, 1), f"{obj.name}.nd")
        require(bld.icmp_signed("==", dim(obj, 0), count), f"{obj.name}.shape")
    tile_bytes = bld.mul(n["neurons"], I64(2 * lanes * abi.precision(dtype).itemsize))
    require(bld.icmp_signed("<=", tile_bytes, I64(abi.CHECKED_TILE_BYTES)), "tile.fits")
    two = fn.append_basic_block("x.nd2")
    sample = fn.append_basic_block("x.nd1")
    bld.cbranch(nd_is(x, 1), sample, two)
    bld.position_at_end(two)
    require(nd_is(x, 2), "x.batch")
    batch = dim(x, 0)
    few = bld.and_(bld.icmp_signed(">=", batch, I64(1)), bld.icmp_signed("<=", batch, I64(lanes)))
    require(bld.and_(few, bld.icmp_signed("==", dim(x, 1), n["in"])), "x.shape2")
    require(nd_is(y, 2), "y.nd2")
    require(bld.and_(bld.icmp_signed("==", dim(y, 0), batch), bld.icmp_signed("==", dim(y, 1), n["out"])),
            "y.shape2")
    rows_done = bld.block
    run = fn.append_basic_block("run")
    bld.branch(run)
    bld.position_at_end(sample)
    require(bld.icmp_signed("==", dim(x, 0), n["in"]), "x.shape1")
    require(nd_is(y, 1), "y.nd1")
    require(bld.icmp_signed("==", dim(y, 0), n["out"]), "y.shape1")
    sample_done = bld.block
    bld.branch(run)
    bld.position_at_end(run)
    count = bld.phi(I64, "batch")
    count.add_incoming(batch, rows_done)
    count.add_incoming(I64(1), sample_done)
    tile = bld.alloca(ir.IntType(8), size=tile_bytes, name="tile")
    tile.align = abi.TILE_ALIGN
    tile.type = PTR
    pointers = [field(obj, data, PTR) for obj in (x, w, b, y)]
    bld.call(forward, pointers + [count, tile, plan])
    bld.ret(I64(0))
    return fn


def min_i64(bld, a, b, name):
    return bld.select(bld.icmp_signed("<", a, b), a, b, name=name)


def load_inputs(ctx: TileContext, x, first, count):
    """tile[inputs[k]][l] = x[first + l][k]; lanes past `count` get 0 so they stay finite.

    NOTE: a full tile gathers each input's column of L samples into one vector
    and stores it whole (L strided loads hit the same L cache lines for every
    k); a partial tile goes lane by lane and never reads past the batch, except
    a tile of one sample (a batch-1 call): one vector store per input row.
    """
    bld = ctx.builder
    inputs = ctx.plan_slot(abi.PLAN_INPUTS, PTR, "inputs")
    n_in = ctx.plan_slot(abi.PLAN_N_INPUTS, I64, "n_inputs")
    full = bld.icmp_signed("==", count, I64(ctx.lanes))
    with bld.if_else(full) as (whole, partial):
        with whole:
            column = bld.gep(x, [bld.mul(first, n_in)], inbounds=True, source_etype=ctx.scalar)
            square = square_side(ctx)
            blocks = bld.udiv(n_in, I64(square))
            with counted_loop(bld, I64(0), blocks, "in_block") as q:
                k0 = bld.mul(q, I64(square))
                rows = [index_at(ctx, inputs, bld.add(k0, I64(c))) for c in range(square)]
                for group in range(ctx.lanes // square):
                    loaded = [load_part(ctx, column, bld.add(bld.mul(I64(group * square + r), n_in), k0), square)
                              for r in range(square)]
                    for c, part in enumerate(transpose(bld, loaded)):
                        store_part(ctx, part, ctx.row(rows[c]), group * square)
            with counted_loop(bld, bld.mul(blocks, I64(square)), n_in, "in_col") as k:
                vector = ir.Constant(ctx.vector, None)
                for lane in range(ctx.lanes):
                    at = bld.gep(column, [bld.add(bld.mul(I64(lane), n_in), k)], inbounds=True,
                                 source_etype=ctx.scalar)
                    vector = bld.insert_element(vector, bld.load(at, align=ctx.align, typ=ctx.scalar),
                                                I32(lane))
                ctx.store_row(vector, index_at(ctx, inputs, k))
        with partial:
            with bld.if_else(bld.icmp_signed("==", count, I64(1))) as (single, several):
                with single:
                    _load_one_sample(ctx, x, first, inputs, n_in)
                with several:
                    _load_some_samples(ctx, x, first, count, inputs, n_in)


def _load_one_sample(ctx: TileContext, x, first, inputs, n_in):
    """A tile of one sample: each input row is its value in lane 0 and zeros, one vector store."""
    bld = ctx.builder
    with counted_loop(bld, I64(0), n_in, "in_one") as k:
        at = bld.gep(x, [bld.add(bld.mul(first, n_in), k)], inbounds=True, source_etype=ctx.scalar)
        value = bld.load(at, align=ctx.align, typ=ctx.scalar)
        ctx.store_row(bld.insert_element(ir.Constant(ctx.vector, None), value, I32(0)), index_at(ctx, inputs, k))


def _load_some_samples(ctx: TileContext, x, first, count, inputs, n_in):
    """A partial tile, lane by lane, never reading past the batch; the lanes past it get zeros."""
    bld = ctx.builder
    with counted_loop(bld, I64(0), count, "in_lane") as lane:
        base = bld.mul(bld.add(first, lane), n_in)
        with counted_loop(bld, I64(0), n_in, "in") as k:
            at = bld.gep(x, [bld.add(base, k)], inbounds=True, source_etype=ctx.scalar)
            value = bld.load(at, align=ctx.align, typ=ctx.scalar)
            _store_cell(ctx, value, index_at(ctx, inputs, k), lane)
    with counted_loop(bld, count, I64(ctx.lanes), "pad_lane") as lane:
        with counted_loop(bld, I64(0), n_in, "pad") as k:
            _store_cell(ctx, ir.Constant(ctx.scalar, 0.0), index_at(ctx, inputs, k), lane)


def square_side(ctx: TileContext) -> int:
    """The side of the blocks a full tile is transposed in: one 256-bit vector of the dtype."""
    return 32 // abi.precision(ctx.dtype).itemsize


def load_part(ctx: TileContext, base, offset, count: int, aligned: bool = False) -> ir.Value:
    """`count` consecutive scalars from base + offset as one vector (a tile row part when `aligned`)."""
    bld = ctx.builder
    at = bld.gep(base, [offset], inbounds=True, source_etype=ctx.scalar)
    align = min(abi.TILE_ALIGN, count * ctx.align) if aligned else ctx.align
    return bld.load(at, align=align, typ=ir.VectorType(ctx.scalar, count))


def store_part(ctx: TileContext, part: ir.Value, base, lane: int, aligned: bool = True):
    """Store vector `part` at base + lane (a tile row part when `aligned`, else a user's buffer)."""
    bld = ctx.builder
    at = bld.gep(base, [I64(lane)], inbounds=True, source_etype=ctx.scalar)
    align = min(abi.TILE_ALIGN, part.type.count * ctx.align) if aligned else ctx.align
    bld.store(part, at, align=align)


def transpose(bld: ir.IRBuilder, rows: list) -> list:
    """The columns of the square matrix whose rows are the vectors `rows` (a power of 2 of them).

    NOTE: at each scale s the off-diagonal s x s blocks swap, a shuffle per
    vector; after every scale each element has moved from (i, j) to (j, i).
    It replaces one scalar load and insert per element of a full tile's
    transposition (a quarter of the forward of 64-32-10 went there).
    """
    size = len(rows)
    rows = list(rows)
    s = 1
    while s < size:
        low = ir.Constant(ir.VectorType(I32, size), [j if j & s == 0 else size + j - s for j in range(size)])
        high = ir.Constant(ir.VectorType(I32, size), [j + s if j & s == 0 else size + j for j in range(size)])
        for i in range(size):
            if i & s == 0:
                a, b = rows[i], rows[i + s]
                rows[i], rows[i + s] = bld.shuffle_vector(a, b, low), bld.shuffle_vector(a, b, high)
        s *= 2
    return rows


def _store_cell(ctx: TileContext, value, row, lane):
    bld = ctx.builder
    cell = bld.add(bld.mul(row, I64(ctx.lanes)), lane)
    bld.store(value, bld.gep(ctx.tile, [cell], inbounds=True, source_etype=ctx.scalar),
              align=ctx.align)


def index_at(ctx: TileContext, base, k) -> ir.Value:
    """base[k] of an int32 index array, widened to i64."""
    bld = ctx.builder
    return bld.sext(load_i32(bld, base, k), I64)


def transpose_out(ctx: TileContext, dest, rows, n_rows, first, count, base=None):
    """dest[first + l][k] = section[rows[k]][l] for the lanes inside the batch.

    NOTE: a full tile loads each row as one vector and scatters its lanes
    (the mirror of `load_inputs`); a partial tile goes lane by lane.
    """
    bld = ctx.builder
    section = ctx.tile if base is None else base
    full = bld.icmp_signed("==", count, I64(ctx.lanes))
    with bld.if_else(full) as (whole, partial):
        with whole:
            column = bld.gep(dest, [bld.mul(first, n_rows)], inbounds=True, source_etype=ctx.scalar)
            square = square_side(ctx)
            blocks = bld.udiv(n_rows, I64(square))
            with counted_loop(bld, I64(0), blocks, "out_block") as q:
                k0 = bld.mul(q, I64(square))
                sources = [ctx.row(index_at(ctx, rows, bld.add(k0, I64(c))), base=section) for c in range(square)]
                for group in range(ctx.lanes // square):
                    loaded = [load_part(ctx, row, I64(group * square), square, aligned=True) for row in sources]
                    for r, part in enumerate(transpose(bld, loaded)):
                        at = bld.gep(column, [bld.add(bld.mul(I64(group * square + r), n_rows), k0)],
                                     inbounds=True, source_etype=ctx.scalar)
                        store_part(ctx, part, at, 0, aligned=False)
            with counted_loop(bld, bld.mul(blocks, I64(square)), n_rows, "out_row") as k:
                vector = ctx.load_row(index_at(ctx, rows, k), base=section)
                for lane in range(ctx.lanes):
                    at = bld.gep(column, [bld.add(bld.mul(I64(lane), n_rows), k)], inbounds=True,
                                 source_etype=ctx.scalar)
                    bld.store(bld.extract_element(vector, I32(lane)), at, align=ctx.align)
        with partial:
            with counted_loop(bld, I64(0), count, "out_lane") as lane:
                start = bld.mul(bld.add(first, lane), n_rows)
                with counted_loop(bld, I64(0), n_rows, "out") as k:
                    cell = bld.add(bld.mul(index_at(ctx, rows, k), I64(ctx.lanes)), lane)
                    value = bld.load(bld.gep(section, [cell], inbounds=True, source_etype=ctx.scalar),
                                     align=ctx.align, typ=ctx.scalar)
                    bld.store(value, bld.gep(dest, [bld.add(start, k)], inbounds=True,
                                             source_etype=ctx.scalar), align=ctx.align)


def entry_alloca(bld: ir.IRBuilder, typ: ir.Type, name: str, count: int = 1):
    """An alloca in the entry block, where SROA promotes it to a register (when `count` is 1)."""
    entry = bld.function.entry_basic_block
    with bld.goto_block(entry):
        bld.position_at_start(entry)
        if count == 1:
            return bld.alloca(typ, name=name)
        buffer = bld.alloca(typ, size=I64(count), name=name)
        # NOTE: llvmlite types an alloca as `T*`; the IR text is the same with
        # an opaque `ptr`, which lets the buffer be addressed like the tile.
        buffer.type = PTR
        return buffer


def load_i32(bld: ir.IRBuilder, base: ir.Value, index: ir.Value) -> ir.Value:
    """base[index] of an int32 array."""
    return bld.load(bld.gep(base, [index], inbounds=True, source_etype=I32), align=4, typ=I32)


def load_i64(bld: ir.IRBuilder, base: ir.Value, index: ir.Value, name: str = "") -> ir.Value:
    """base[index] of an int64 array."""
    return bld.load(bld.gep(base, [index], inbounds=True, source_etype=I64), align=8, typ=I64,
                    name=name)
