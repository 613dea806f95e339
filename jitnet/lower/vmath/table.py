"""The one table of IR emitters: activation code -> (emit f, emit f'), and `emit_f` / `emit_df`.

`EMITTERS[code]` is a pair of `Emitter`s, (Ops, z) -> ir.Value, where the Ops
is in z's own type and precision. The piecewise-linear and polynomial rows are
a few inline instructions; every other row calls an internal `alwaysinline`
helper created once per module by name (`jitnet_sigmoid_v8f32`,
`jitnet_dsigmoid_f64`), so the IR stays readable and the caller's basic block
is never split. The rows must match `jitnet.activations.ACTIVATIONS` one to
one (tests/test_activations.py checks it).
"""

from typing import Callable, Dict, Optional, Tuple

from llvmlite import ir

from ...activations import ACTIVATIONS
from . import kernels as k
from .coefficients import P32, P32W, P64, Prec
from .ops import Ops

_F32, _F64 = ir.FloatType(), ir.DoubleType()

# An emitter works at the call site, with Ops in z's own type; a kernel (kernels.py) works inside
# its helper function, with Ops in the working precision (double for a wide float32 row).
Emitter = Callable[[Ops, ir.Value], ir.Value]
Kernel = Callable[[Ops, ir.Value], ir.Value]


def _split_type(ty: ir.Type) -> Tuple[ir.Type, Optional[int]]:
    if isinstance(ty, ir.VectorType):
        ety, lanes = ty.element, ty.count
    else:
        ety, lanes = ty, None
    if ety not in (_F32, _F64):
        raise TypeError(f"vmath: expected float, double or a vector of them, got {ty}")
    if lanes is not None and (lanes & (lanes - 1) or lanes > 64):
        raise TypeError(f"vmath: vector width must be a power of two <= 64, got {lanes}")
    return ety, lanes


def _helper(builder: ir.IRBuilder, z: ir.Value, name: str, body: Callable[[ir.Function], None]) -> ir.Value:
    """Call (creating once per module) the internal alwaysinline function `name`: T -> T."""
    mod = builder.module
    fn = mod.globals.get(name)
    if fn is None:
        fn = ir.Function(mod, ir.FunctionType(z.type, [z.type]), name)
        fn.linkage = "internal"
        fn.attributes.add("alwaysinline")
        fn.attributes.add("nounwind")
        body(fn)
    return builder.call(fn, [z])


def _working(ety: ir.Type, wide: bool) -> Prec:
    if ety == _F64:
        return P64
    return P32W if wide else P32


def _kernel(kernel: Kernel, wide: bool = False) -> Emitter:
    """An emitter calling `kernel` in a helper named after it (swish shares silu's, softplus'
    derivative sigmoid's); wide=True runs float32 in double (gelu)."""
    def emit(o: Ops, z: ir.Value) -> ir.Value:
        ety, lanes = _split_type(z.type)

        def body(fn):
            b = ir.IRBuilder(fn.append_basic_block("entry"))
            w = Ops(b, _working(ety, wide), lanes)
            x = fn.args[0]
            if w.ty != x.type:
                x = b.fpext(x, w.ty)
            y = kernel(w, x)
            if w.ty != fn.args[0].type:
                y = b.fptrunc(y, fn.args[0].type)
            b.ret(y)
        return _helper(o.b, z, f"jitnet_{kernel.__name__}_{o.tag}", body)
    return emit


def _trig(cosine: bool, negate: bool = False) -> Emitter:
    """sin or cos (negated for cos'), in double, with a per-lane libm slow path for |x| >= TRIG_MAX."""
    def emit(o: Ops, z: ir.Value) -> ir.Value:
        ety, lanes = _split_type(z.type)
        # NOTE: sin' and cos' reuse the helpers of cos and sin.
        y = _helper(o.b, z, f"jitnet_{'cos' if cosine else 'sin'}_{o.tag}", _trig_body(cosine, ety, lanes))
        return o.neg(y) if negate else y
    return emit


def _trig_body(cosine, ety, lanes):
    def body(fn):
        b = ir.IRBuilder(fn.append_basic_block("entry"))
        o = Ops(b, P64 if ety == _F64 else P32W, lanes)
        x = fn.args[0]
        xd = b.fpext(x, o.ty) if o.ty != x.type else x
        fast, big = k.sincos(o, xd, cosine)
        # NOTE: the slow path (libm per lane, all lanes of the vector) runs only if some lane has
        # |x| >= 2^30 (inf included); its branch is predicted not-taken on ordinary data.
        if lanes is None:
            anybig = big
        else:
            mask = ir.IntType(lanes)
            anybig = b.icmp_unsigned("!=", b.bitcast(big, mask), ir.Constant(mask, 0))
        entry = b.block
        slow_bb = fn.append_basic_block("slow")
        done_bb = fn.append_basic_block("done")
        b.cbranch(anybig, slow_bb, done_bb)
        b.position_at_end(slow_bb)
        libm = _libm(b.module, "cos" if cosine else "sin")
        if lanes is None:
            slow = b.call(libm, [xd])
        else:
            slow = fast
            for i in range(lanes):
                idx = ir.Constant(ir.IntType(32), i)
                slow = b.insert_element(slow, b.call(libm, [b.extract_element(xd, idx)]), idx)
        slow = b.select(big, slow, fast)
        b.branch(done_bb)
        b.position_at_end(done_bb)
        y = b.phi(o.ty)
        y.add_incoming(fast, entry)
        y.add_incoming(slow, slow_bb)
        b.ret(b.fptrunc(y, x.type) if o.ty != x.type else y)
    return body


def _libm(mod, name):
    fn = mod.globals.get(name)
    if fn is None:
        fn = ir.Function(mod, ir.FunctionType(_F64, [_F64]), name)
    return fn


# --- the inline rows: ordered compares are false for NaN, so NaN falls through to x where f(NaN) is NaN

def _one_where(o: Ops, mask: ir.Value) -> ir.Value:
    return o.sel(mask, o.c(1.0), o.c(0.0))


def _relu(o, z):  # NOTE: relu(nan) = nan
    return o.sel(o.cmp("<", z, o.c(0.0)), o.c(0.0), z)


def _leaky_relu(o, z):
    # NOTE: x/100 by fdiv, as SPEC §2 writes it (x * 0.01 differs in the last bit for some x,
    # 0.01 not being 1/100).
    return o.sel(o.cmp(">=", z, o.c(0.0)), z, o.div(z, o.c(100.0)))


def _sign(o, z):  # NOTE: abs'(0) = 0, like np.sign (and nan -> nan)
    return o.sel(o.cmp(">", z, o.c(0.0)), o.c(1.0), o.sel(o.cmp("<", z, o.c(0.0)), o.c(-1.0), z))


def _clamped(o, z):
    return o.sel(o.cmp("<", z, o.c(-1.0)), o.c(-1.0), o.sel(o.cmp(">", z, o.c(1.0)), o.c(1.0), z))


def _dclamped(o, z):  # NOTE: 0 at +-1 (SPEC §2, PyTorch's hardtanh)
    return _one_where(o, o.b.and_(o.cmp(">", z, o.c(-1.0)), o.cmp("<", z, o.c(1.0))))


def _hat(o, z):
    # NOTE: 1 - |x| is exact for |x| in [1/2, 1] (Sterbenz) and one rounding below.
    a = o.fabs(z)
    return o.sel(o.cmp(">=", a, o.c(1.0)), o.c(0.0), o.sub(o.c(1.0), a))


def _dhat(o, z):  # NOTE: -sign x on (-1, 1), so 0 at 0 and at +-1 (SPEC §2)
    inside = o.cmp("<", o.fabs(z), o.c(1.0))
    down = o.sel(o.cmp(">", z, o.c(0.0)), o.c(-1.0), o.sel(o.cmp("<", z, o.c(0.0)), o.c(1.0), o.c(0.0)))
    return o.sel(inside, down, o.c(0.0))


def _const(v: float) -> Emitter:
    return lambda o, z: o.c(v)


EMITTERS: Dict[int, Tuple[Emitter, Emitter]] = {
    0x00: (lambda o, z: z, _const(1.0)),                                    # identity
    0x01: (_kernel(k.sigmoid), _kernel(k.dsigmoid)),
    0x02: (_kernel(k.tanh), _kernel(k.dtanh)),
    0x03: (_relu, lambda o, z: _one_where(o, o.cmp(">", z, o.c(0.0)))),     # relu'(0) = 0
    0x04: (_kernel(k.silu), _kernel(k.dsilu)),
    0x05: (_kernel(k.gelu, wide=True), _kernel(k.dgelu, wide=True)),
    0x06: (_kernel(k.silu), _kernel(k.dsilu)),                              # swish = silu
    0x07: (_leaky_relu, lambda o, z: o.sel(o.cmp(">", z, o.c(0.0)), o.c(1.0), o.c(0.01))),
    0x08: (lambda o, z: _one_where(o, o.cmp(">", z, o.c(0.0))), _const(0.0)),  # step' = 0
    0x09: (_kernel(k.softplus), _kernel(k.sigmoid)),
    0x0A: (_kernel(k.elu), _kernel(k.delu)),
    0x0B: (_trig(False), _trig(True)),                                      # sin' = cos
    0x0C: (_kernel(k.gauss), _kernel(k.dgauss)),
    0x0D: (lambda o, z: o.fabs(z), _sign),
    0x0E: (_trig(True), _trig(False, negate=True)),                         # cos' = -sin
    0x0F: (lambda o, z: o.mul(z, z), lambda o, z: o.add(z, z)),             # square; 2x is exact
    0x10: (_clamped, _dclamped),
    0x11: (_hat, _dhat),
    0x12: (_kernel(k.cube), _kernel(k.dcube)),
    0x13: (_kernel(k.exp), _kernel(k.exp)),                                 # exp' = exp
    0x14: (_kernel(k.selu), _kernel(k.dselu)),
}


def _ops(builder: ir.IRBuilder, z: ir.Value) -> Ops:
    """Ops in z's own type and precision."""
    ety, lanes = _split_type(z.type)
    return Ops(builder, P64 if ety == _F64 else P32, lanes)


def _emit(builder: ir.IRBuilder, code: int, z: ir.Value, which: int) -> ir.Value:
    code = int(code)
    if code not in EMITTERS:
        raise ValueError(f"vmath: unknown activation code {code}: expected 0-{len(ACTIVATIONS) - 1}")
    return EMITTERS[code][which](_ops(builder, z), z)


_EXP, _LOG = _kernel(k.exp), _kernel(k.log)


def emit_exp(builder: ir.IRBuilder, z: ir.Value) -> ir.Value:
    """Emit e^z for any z (the exp activation's helper, so a module has one copy); see `emit_f`."""
    return _EXP(_ops(builder, z), z)


def emit_log(builder: ir.IRBuilder, z: ir.Value) -> ir.Value:
    """Emit log z for positive normal z (+inf and NaN give themselves; 0, negative and subnormal
    z are not handled); see `emit_f`."""
    return _LOG(_ops(builder, z), z)


def emit_f(builder: ir.IRBuilder, code: int, z: ir.Value) -> ir.Value:
    """Emit f(z) for activation `code` (SPEC §2) at the builder's position.

    Args:
        builder: positioned where the value is needed; it stays in its block.
        code: the activation code (see jitnet.activations).
        z: a value of type <L x float>, <L x double> (L a power of two <= 64), float or double.
    Returns:
        An ir.Value of z's type.
    Raises:
        TypeError: for any other type of z; ValueError: for a code not in the table.
    """
    return _emit(builder, code, z, 0)


def emit_df(builder: ir.IRBuilder, code: int, z: ir.Value) -> ir.Value:
    """Emit f'(z), the derivative with respect to the pre-activation z (SPEC §2); see `emit_f`."""
    return _emit(builder, code, z, 1)
