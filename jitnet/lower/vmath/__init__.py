"""Vector activations in LLVM IR: `emit_f(builder, code, z)` and `emit_df(builder, code, z)`.

They emit f_j(z) and f_j'(z) (SPEC §2) for z of type <L x float>,
<L x double>, float or double, at the builder's position; `emit_exp` and
`emit_log` give e^z and log z for the fused loss's log-sum-exp. The normal path
makes no libm call: exp, expm1, log1p, tanh, the normal tail (erfc) and
sin/cos are range reductions (Cody-Waite, with `llvm.fma`) plus minimax
polynomials or one rational, with `select` in place of branches, so LLVM keeps
every lane in vector registers. There are no fast-math flags, so the results
are bit-identical wherever this code runs. float32 sin, cos and gelu run in
double internally (0.5 ulp); everything else runs in the input's precision
(at most ~3.5 ulp; tests/test_vmath.py has the bounds).

The package, by job:
- `table.py`: the one table of emitters keyed by activation code, the
  per-module helper functions, `emit_f` / `emit_df`;
- `kernels.py`: each non-trivial f and f' written against `Ops`;
- `ops.py`: `Ops`, the IR building blocks (fma, Horner, 2^k, exp reductions);
- `coefficients.py`: the fitted tables (how they were fitted is said there).
"""

from ...activations import ACTIVATIONS
from .coefficients import GELU_SMALL, TANH_SPLIT, TRIG_MAX
from .table import EMITTERS, emit_df, emit_exp, emit_f, emit_log

__all__ = ["emit_f", "emit_df", "emit_exp", "emit_log", "EMITTERS", "NAMES", "TANH_SPLIT", "TRIG_MAX",
           "GELU_SMALL"]

NAMES = tuple(a.name for a in ACTIVATIONS)  # code -> name, as in SPEC §2
