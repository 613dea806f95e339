"""The SSA tier: Net -> llvmlite.ir.Module of straight-line code, one `llvm.fma` per edge.

The readable form of a net: each neuron equation becomes `z = b_j`, one
`llvm.fma` per in-edge in canonical order, then a call of `f_j`, with values
named after ncc's names (`n04`, `w0004`), so `jitnet ir` reads like `jitnet eqs`.
LLVM's optimisation pipeline is super-linear on long straight-line code
(PERF-NOTES: 57 s for 12.7k edges), so this tier runs no IR passes, is code-
generated at `opt=0`, and splits the schedule into functions of at most
`PART_EDGES` edges. Neurons are passed between parts through the tile.
"""

from llvmlite import ir

from . import tile
from .tile import I64, PTR, TileContext
from .vmath import emit_f

# NOTE: FastISel's cost grows with function size; ~4k edges per function kept
# code generation linear in the prototypes (PERF-NOTES).
PART_EDGES = 4000
# Largest net `strategy="auto"` gives to this tier (README, "Choosing a tier").
SSA_MAX_EDGES = 0


def lower_ssa(net, dtype: str) -> ir.Module:
    """The SSA forward module for `net` (topology and activations baked into the code)."""
    module = ir.Module(name="jitnet_ssa")
    parts = [_emit_part(module, net, dtype, k, neurons) for k, neurons in enumerate(_parts(net))]

    def body(ctx: TileContext):
        for part in parts:
            ctx.builder.call(part, [ctx.w, ctx.b, ctx.tile])

    tile.forward_function(module, dtype, body)
    return module


def _parts(net):
    """The schedule's non-input neurons, cut into runs of at most PART_EDGES edges."""
    parts, current, edges = [], [], 0
    for j in net.schedule.tolist():
        fan_in = int(net.in_ptr[j + 1] - net.in_ptr[j])
        if fan_in == 0:
            continue
        if current and edges + fan_in > PART_EDGES:
            parts.append(current)
            current, edges = [], 0
        current.append(j)
        edges += fan_in
    if current:
        parts.append(current)
    return parts


def _emit_part(module, net, dtype, k, neurons) -> ir.Function:
    scalar = tile.scalar_type(dtype)
    lanes = tile.LANES[dtype]
    vector = ir.VectorType(scalar, lanes)
    fn = ir.Function(module, ir.FunctionType(ir.VoidType(), [PTR, PTR, PTR]), name=f"jitnet_part{k}")
    fn.linkage = "internal"
    w, b, tile_ptr = fn.args
    w.name, b.name, tile_ptr.name = "w", "b", "tile"
    bld = ir.IRBuilder(fn.append_basic_block("entry"))
    ctx = TileContext(bld, dtype, lanes, scalar, vector, w, b, tile_ptr, None)
    values = {}

    def value(i):
        if i not in values:
            values[i] = ctx.load_row(I64(i), name=net.name(i))
        return values[i]

    for j in neurons:
        z = ctx.splat(ctx.load_scalar(b, I64(j), f"b{net.name(j)[1:]}"))
        for e in range(int(net.in_ptr[j]), int(net.in_ptr[j + 1])):
            i = int(net.edges[e, 0])
            weight = ctx.load_scalar(w, I64(e), f"w{net.name(i)[1:]}{net.name(j)[1:]}")
            z = ctx.fma(value(i), ctx.splat(weight), z, name=f"z{net.name(j)[1:]}")
        n_j = bld.call(_activation(module, int(net.activations[j]), vector), [z],
                       name=net.name(j))
        ctx.store_row(n_j, I64(j))
        values[j] = n_j
    bld.ret_void()
    return fn


def _activation(module, code: int, vector: ir.Type) -> ir.Function:
    """`f` for one code as a small function, defined once per module and called per neuron."""
    name = f"jitnet_f{code:02x}"
    if name in module.globals:
        return module.globals[name]
    fn = ir.Function(module, ir.FunctionType(vector, [vector]), name=name)
    fn.linkage = "internal"
    bld = ir.IRBuilder(fn.append_basic_block("entry"))
    bld.ret(emit_f(bld, code, fn.args[0]))
    return fn
