"""The readable tier stays readable: the SSA tier's neuron code for a tiny net, as exact IR text.

The fixtures hold only the straight-line part functions (one `llvm.fma` per
edge, values named as ncc names them: `%n02`, `%z02.1`, `%w0002`, `%Dn02.0`,
`%Dz04`), not the activation kernels, so a change of the vector math does not
touch them, and any change of what the tier emits per neuron shows as a diff.
Regenerate with `python tests/test_ir_fixture.py` after an intended change.
"""

import re
import sys
from pathlib import Path

import jitnet

FIXTURES = Path(__file__).resolve().parent / "fixtures"
PART = re.compile(r"^define internal void @jitnet_(?:fwd_|rev_)?part\d+\(.*?^}\n", re.M | re.S)


def _tiny():
    net = jitnet.Net(5, [(0, 2), (1, 2), (2, 4), (3, 4), (0, 4)], activations=[0, 0, 2, 0, 3])
    return jitnet.compile(net, dtype="float64", strategy="ssa", cache=False)


def _parts(ir_text: str) -> str:
    return "".join(PART.findall(ir_text))


def test_forward_parts_are_the_fixture():
    assert _parts(_tiny().ir_unoptimized) == (FIXTURES / "tiny_ssa.fwd.ll").read_text()


def test_backward_parts_are_the_fixture_and_use_ncc_names():
    text = _parts(_tiny().ir_backward_unoptimized)
    assert text == (FIXTURES / "tiny_ssa.bwd.ll").read_text()
    for name in ("%Dz04", "%Dz02", "%Dn02.0", "%Dn00.1", "%n02", "%w0204"):
        assert re.search(re.escape(name) + r"(?![\w.])", text), name


if __name__ == "__main__":
    cn = _tiny()
    (FIXTURES / "tiny_ssa.fwd.ll").write_text(_parts(cn.ir_unoptimized))
    (FIXTURES / "tiny_ssa.bwd.ll").write_text(_parts(cn.ir_backward_unoptimized))
    sys.exit(0)
