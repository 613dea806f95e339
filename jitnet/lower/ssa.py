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
from .tile import PTR, TileContext, vector_intrinsic
from .vmath import emit_f

# NOTE: FastISel's cost grows with function size; ~4k edges per function kept
# code generation linear in the prototypes (PERF-NOTES).
PART_EDGES = 4000
# Largest net `strategy="auto"` gives to this tier (README, "Choosing a tier").
SSA_MAX_EDGES = 0


def lower_ssa(net, dtype: str) -> str:
    """The SSA forward module for `net` as IR text (topology and activations baked in).

    NOTE: the straight-line parts are written as text, not with llvmlite's
    builder, which costs ~300 us per edge in Python; the shared skeleton and
    the activation functions still come from the builder.
    """
    module = ir.Module(name="jitnet_ssa")
    lanes = tile.LANES[dtype]
    vector = ir.VectorType(tile.scalar_type(dtype), lanes)
    parts = _parts(net)
    declared = [ir.Function(module, ir.FunctionType(ir.VoidType(), [PTR, PTR, PTR]),
                            name=f"jitnet_part{k}") for k in range(len(parts))]
    for code in sorted({int(net.activations[j]) for part in parts for j in part}):
        _activation(module, code, vector)
    vector_intrinsic(module, "llvm.fma", vector, 3)

    def body(ctx: TileContext):
        for fn in declared:
            ctx.builder.call(fn, [ctx.w, ctx.b, ctx.tile])

    tile.forward_function(module, dtype, body)
    text = str(module)
    for k, (fn, neurons) in enumerate(zip(declared, parts)):
        text = text.replace(str(fn).strip(), _part_text(net, dtype, k, neurons), 1)
    return text


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


def _part_text(net, dtype: str, k: int, neurons) -> str:
    """One straight-line function: each neuron's FMA chain, then its activation, stored to the tile.

    A neuron computed earlier in the part is used as an SSA value; one from an
    earlier part, or an input, is loaded from the tile once.
    """
    scalar = "float" if dtype == "float32" else "double"
    lanes = tile.LANES[dtype]
    vec = f"<{lanes} x {scalar}>"
    fma = f"@llvm.fma.v{lanes}{'f32' if dtype == 'float32' else 'f64'}"
    align = 4 if dtype == "float32" else 8
    width = tile.TILE_ALIGN
    lines = [f"define internal void @jitnet_part{k}(ptr noalias %w, ptr noalias %b, ptr noalias %tile) {{",
             "entry:"]
    ready = set()

    def splat(value, name):
        lines.append(f"  %{name}.s = insertelement {vec} poison, {scalar} %{value}, i64 0")
        lines.append(f"  %{name}.v = shufflevector {vec} %{name}.s, {vec} poison, "
                     f"<{lanes} x i32> zeroinitializer")
        return f"%{name}.v"

    for j in neurons:
        nj = net.name(j)
        bj = "b" + nj[1:]
        lines.append(f"  %{bj}.p = getelementptr inbounds {scalar}, ptr %b, i64 {j}")
        lines.append(f"  %{bj} = load {scalar}, ptr %{bj}.p, align {align}")
        z = splat(bj, bj)
        for step, e in enumerate(range(int(net.in_ptr[j]), int(net.in_ptr[j + 1]))):
            i = int(net.edges[e, 0])
            ni = net.name(i)
            if i not in ready:
                lines.append(f"  %{ni}.p = getelementptr inbounds {scalar}, ptr %tile, i64 {i * lanes}")
                lines.append(f"  %{ni} = load {vec}, ptr %{ni}.p, align {width}")
                ready.add(i)
            wij = f"w{ni[1:]}{nj[1:]}"
            lines.append(f"  %{wij}.p = getelementptr inbounds {scalar}, ptr %w, i64 {e}")
            lines.append(f"  %{wij} = load {scalar}, ptr %{wij}.p, align {align}")
            w_splat = splat(wij, wij)
            lines.append(f"  %z{nj[1:]}.{step} = call {vec} {fma}({vec} %{ni}, {vec} {w_splat}, {vec} {z})")
            z = f"%z{nj[1:]}.{step}"
        code = int(net.activations[j])
        lines.append(f"  %{nj} = call {vec} @jitnet_f{code:02x}({vec} {z})")
        lines.append(f"  %{nj}.p = getelementptr inbounds {scalar}, ptr %tile, i64 {j * lanes}")
        lines.append(f"  store {vec} %{nj}, ptr %{nj}.p, align {width}")
        ready.add(j)
    lines.append("  ret void")
    lines.append("}")
    return "\n".join(lines)


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
