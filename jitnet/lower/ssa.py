"""The SSA tier: Net -> IR text of straight-line code, one `llvm.fma` per edge.

The readable form of a net: each neuron equation becomes `z = b_j`, one
`llvm.fma` per in-edge in canonical order, then a call of `f_j`, with values
named after ncc's names (`%n04`, `%w0004`, `%z04.1`), so `jitnet ir` reads
like `jitnet eqs`; the backward pass reads like `jitnet eqs --bwd` (`%Dn04.k`,
`%Dz04`). LLVM's optimisation pipeline is super-linear on long straight-line
code (PERF-NOTES: 57 s for 12.7k edges), so this tier runs no IR passes, is
code-generated at `opt=0`, and splits the work into functions ("parts") of at
most `PART_EDGES` edges. Values pass between parts through the tile.

NOTE: the parts are written as text, not with llvmlite's builder, which costs
~300 us per edge in Python; the shared skeletons (`tile.py`, `grad.py`) and the
activation functions still come from the builder, and the parts replace
their declarations in the module text.
"""

from llvmlite import ir

from . import abi, grad, tile
from .tile import PTR, vector_intrinsic
from .vmath import emit_df, emit_f

# NOTE: FastISel's cost grows with function size; ~4k edges per function kept
# code generation linear in the prototypes (PERF-NOTES).
PART_EDGES = 4000
# Largest net `strategy="auto"` gives to this tier (README, "Choosing a tier").
SSA_MAX_EDGES = 0


def lower_ssa(net, dtype: str) -> str:
    """The SSA forward module for `net` as IR text (topology and activations baked in)."""
    module = ir.Module(name="jitnet_ssa")
    parts = _cut(_forward_items(net))
    declared = _declare(module, dtype, "jitnet_part", len(parts), 3, _codes(net), df=False)
    tile.forward_function(module, dtype, lambda ctx: [
        ctx.builder.call(fn, [ctx.w, ctx.b, ctx.tile]) for fn in declared])
    texts = [_forward_part(net, dtype, fn.name, part, keep_z=False) for fn, part in zip(declared, parts)]
    return _splice(module, declared, texts)


def lower_ssa_backward(net, dtype: str, outputs) -> str:
    """The SSA backward (VJP) module for `net` read out at `outputs`; see `grad.py` for the ABI."""
    module = ir.Module(name="jitnet_ssa_grad")
    codes = _codes(net)
    forward_parts = _cut(_forward_items(net))
    reverse_parts = _cut(_reverse_items(net))
    forward = _declare(module, dtype, "jitnet_fwd_part", len(forward_parts), 4, codes, df=True)
    reverse = _declare(module, dtype, "jitnet_rev_part", len(reverse_parts), 6, codes, df=True)
    vector_intrinsic(module, "llvm.fma", ir.VectorType(tile.scalar_type(dtype),
                                                       abi.precision(dtype).partial_lanes), 3)
    grad.backward_function(
        module, dtype,
        lambda ctx: [ctx.builder.call(fn, [ctx.w, ctx.b, ctx.tile, ctx.ztile]) for fn in forward],
        lambda ctx: [ctx.builder.call(fn, [ctx.w, ctx.tile, ctx.ztile, ctx.seeds, ctx.dw_part,
                                           ctx.db_part]) for fn in reverse])
    seed_row = abi.seed_rows(outputs, net.n_neurons)
    texts = [_forward_part(net, dtype, fn.name, part, keep_z=True) for fn, part in zip(forward, forward_parts)]
    texts += [_reverse_part(net, dtype, fn.name, part, seed_row) for fn, part in zip(reverse, reverse_parts)]
    return _splice(module, forward + reverse, texts)


def _codes(net):
    return sorted({int(c) for c in net.activations[net.fan_in > 0]})


def _forward_items(net):
    """(neuron, edges) for the schedule's non-input neurons, in order."""
    return [(j, int(net.fan_in[j])) for j in net.schedule.tolist() if net.fan_in[j] > 0]


def _reverse_items(net):
    """(neuron, out-edges) for every neuron, the schedule backwards (inputs included)."""
    return [(i, int(net.fan_out[i])) for i in net.schedule[::-1].tolist()]


def _cut(items):
    """Runs of neurons with at most PART_EDGES edges each (a bigger neuron gets a run alone)."""
    parts, current, edges = [], [], 0
    for j, count in items:
        if current and edges + count > PART_EDGES:
            parts.append(current)
            current, edges = [], 0
        current.append(j)
        edges += count
    if current:
        parts.append(current)
    return parts


def _declare(module, dtype, prefix, count, arity, codes, df):
    """Declare the parts, define the activation functions they call and the FMA intrinsic."""
    vector = ir.VectorType(tile.scalar_type(dtype), abi.precision(dtype).lanes)
    for code in codes:
        _activation(module, code, vector, emit_f, "f")
        if df:
            _activation(module, code, vector, emit_df, "df")
    vector_intrinsic(module, "llvm.fma", vector, 3)
    return [ir.Function(module, ir.FunctionType(ir.VoidType(), [PTR] * arity), name=f"{prefix}{k}")
            for k in range(count)]


def _activation(module, code: int, vector: ir.Type, emit, kind: str) -> ir.Function:
    """`f` or `df` for one code as a small function, defined once per module, called per neuron."""
    name = f"jitnet_{kind}{code:02x}"
    if name in module.globals:
        return module.globals[name]
    fn = ir.Function(module, ir.FunctionType(vector, [vector]), name=name)
    fn.linkage = "internal"
    bld = ir.IRBuilder(fn.append_basic_block("entry"))
    bld.ret(emit(bld, code, fn.args[0]))
    return fn


def _splice(module, declared, texts) -> str:
    text = str(module)
    for fn, body in zip(declared, texts):
        text = text.replace(str(fn).strip(), body, 1)
    return text


class _Writer:
    """Lines of one part function, with the dtype's spellings and the net's names."""

    def __init__(self, net, dtype, name, params):
        self.net = net
        p = abi.precision(dtype)
        self.scalar, self.lanes, self.part, self.align = p.ir_type, p.lanes, p.partial_lanes, p.itemsize
        self.vec = f"<{self.lanes} x {self.scalar}>"
        self.pvec = f"<{self.part} x {self.scalar}>"
        self.fma_name = f"@llvm.fma.v{self.lanes}{p.suffix}"
        self.pfma = f"@llvm.fma.v{self.part}{p.suffix}"
        self.row_align = min(abi.TILE_ALIGN, self.lanes * self.align)
        args = ", ".join(f"ptr noalias %{p}" for p in params)
        self.lines = [f"define internal void @{name}({args}) {{", "entry:"]

    def hex(self, j):
        return self.net.name(j)[1:]

    def emit(self, line):
        self.lines.append("  " + line)

    def row_ptr(self, base, j, name):
        self.emit(f"%{name}.p = getelementptr inbounds {self.scalar}, ptr %{base}, i64 {j * self.lanes}")
        return f"%{name}.p"

    def load_row(self, base, j, name):
        ptr = self.row_ptr(base, j, name)
        self.emit(f"%{name} = load {self.vec}, ptr {ptr}, align {self.row_align}")
        return f"%{name}"

    def store_row(self, value, base, j, name):
        ptr = self.row_ptr(base, j, name + ".st")
        self.emit(f"store {self.vec} {value}, ptr {ptr}, align {self.row_align}")

    def load_splat(self, base, index, name):
        """base[index] broadcast to every lane, as %name.v (the scalar is %name)."""
        self.emit(f"%{name}.p = getelementptr inbounds {self.scalar}, ptr %{base}, i64 {index}")
        self.emit(f"%{name} = load {self.scalar}, ptr %{name}.p, align {self.align}")
        self.emit(f"%{name}.s = insertelement {self.vec} poison, {self.scalar} %{name}, i64 0")
        self.emit(f"%{name}.v = shufflevector {self.vec} %{name}.s, {self.vec} poison, "
                  f"<{self.lanes} x i32> zeroinitializer")
        return f"%{name}.v"

    def fma(self, name, a, b, acc):
        """%name = fma(a, b, acc) on tile vectors; returns "%name"."""
        self.emit(f"%{name} = call {self.vec} {self.fma_name}({self.vec} {a}, {self.vec} {b}, "
                  f"{self.vec} {acc})")
        return f"%{name}"

    def chunk(self, value, k, name):
        mask = ", ".join(f"i32 {k * self.part + m}" for m in range(self.part))
        self.emit(f"%{name} = shufflevector {self.vec} {value}, {self.vec} poison, <{self.part} x i32> <{mask}>")
        return f"%{name}"

    def fold_into(self, base, index, name, terms):
        """partials[index] (P lanes) += the products/values in `terms`, in `grad.fold`'s steps."""
        offset = index * self.part
        self.emit(f"%{name}.p = getelementptr inbounds {self.scalar}, ptr %{base}, i64 {offset}")
        self.emit(f"%{name}.0 = load {self.pvec}, ptr %{name}.p, align 32")

        def term(k, acc):
            if isinstance(terms, tuple):
                a = self.chunk(terms[0], k, f"{name}.a{k}")
                b = self.chunk(terms[1], k, f"{name}.b{k}")
                self.emit(f"%{name}.{k + 1} = call {self.pvec} {self.pfma}({self.pvec} {a}, "
                          f"{self.pvec} {b}, {self.pvec} {acc})")
            else:
                a = self.chunk(terms, k, f"{name}.a{k}")
                self.emit(f"%{name}.{k + 1} = fadd {self.pvec} {acc}, {a}")
            return f"%{name}.{k + 1}"

        acc = grad.fold(f"%{name}.0", self.lanes // self.part, term)
        self.emit(f"store {self.pvec} {acc}, ptr %{name}.p, align 32")

    def text(self):
        return "\n".join(self.lines + ["  ret void", "}"])


def _forward_part(net, dtype, name, neurons, keep_z) -> str:
    """Each neuron's FMA chain from b_j, then f_j; n_j (and z_j if `keep_z`) stored to the tile.

    A neuron computed earlier in the part is used as an SSA value; one from an
    earlier part, or an input, is loaded from the tile once.
    """
    out = _Writer(net, dtype, name, ["w", "b", "tile", "ztile"] if keep_z else ["w", "b", "tile"])
    values = {}
    for j in neurons:
        h = out.hex(j)
        z = out.load_splat("b", j, f"b{h}")
        for step, e in enumerate(range(int(net.in_ptr[j]), int(net.in_ptr[j + 1]))):
            i = int(net.edges[e, 0])
            if i not in values:
                values[i] = out.load_row("tile", i, f"n{out.hex(i)}")
            weight = out.load_splat("w", e, f"w{out.hex(i)}{h}")
            z = out.fma(f"z{h}.{step}", values[i], weight, z)
        code = int(net.activations[j])
        out.emit(f"%n{h} = call {out.vec} @jitnet_f{code:02x}({out.vec} {z})")
        values[j] = f"%n{h}"
        out.store_row(f"%n{h}", "tile", j, f"n{h}")
        if keep_z:
            out.store_row(z, "ztile", j, f"z{h}")
    return out.text()


def _reverse_part(net, dtype, name, neurons, seed_row) -> str:
    """For each neuron, the schedule backwards: Dn from its seed over its out-edges (ascending j),
    the dw partials of those edges, then Dz = Dn * df(z) and the db partial (SPEC §1).

    An input's Dn (its dx) is stored in its z row, as in the CSR tier.
    """
    out = _Writer(net, dtype, name, ["w", "tile", "ztile", "seeds", "dwp", "dbp"])
    dz = {}
    for i in neurons:
        h = out.hex(i)
        if seed_row[i] >= 0:
            dn = out.load_row("seeds", int(seed_row[i]), f"DLY{h}")
        else:
            dn = "zeroinitializer"
        n_i = out.load_row("tile", i, f"n{h}") if net.fan_out[i] else None
        for step, e in enumerate(range(int(net.out_ptr[i]), int(net.out_ptr[i + 1]))):
            j, edge = int(net.out_dst[e]), int(net.out_edge[e])
            hj = out.hex(j)
            if j not in dz:
                dz[j] = out.load_row("ztile", j, f"Dz{hj}")
            weight = out.load_splat("w", edge, f"w{h}{hj}")
            dn = out.fma(f"Dn{h}.{step}", weight, dz[j], dn)
            out.fold_into("dwp", edge, f"Dw{h}{hj}", (n_i, dz[j]))
        if dn == "zeroinitializer":
            out.emit(f"%Dn{h} = fadd {out.vec} zeroinitializer, zeroinitializer")
            dn = f"%Dn{h}"
        if net.fan_in[i] == 0:
            out.store_row(dn, "ztile", i, f"Dn{h}")
            continue
        z = out.load_row("ztile", i, f"z{h}")
        code = int(net.activations[i])
        out.emit(f"%df{h} = call {out.vec} @jitnet_df{code:02x}({out.vec} {z})")
        out.emit(f"%Dz{h} = fmul {out.vec} {dn}, %df{h}")
        dz[i] = f"%Dz{h}"
        out.store_row(dz[i], "ztile", i, f"Dz{h}")
        out.fold_into("dbp", i, f"Db{h}", dz[i])
    return out.text()
