"""The on-disk code cache: hits skip compilation, corrupt entries are recompiled, writers are safe."""

import collections
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from jitnet.compiler import compile
from jitnet.native import jit
from jitnet.net import Net

NET = Net(4, [(0, 2), (1, 2), (2, 3), (0, 3)], activations="tanh")


def _entries(folder):
    return sorted(p for p in folder.iterdir() if p.suffix == ".o")


def _outputs(cn):
    x = np.linspace(-1, 1, 10).reshape(5, 2)
    return cn.forward(x, *cn.init(seed=1))


@pytest.fixture
def cache_dir(tmp_path, monkeypatch):
    """A fresh disk cache, and no machine code remembered in memory (which would bypass the disk)."""
    monkeypatch.setenv("JITNET_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(jit, "_BUILT", collections.OrderedDict())
    monkeypatch.setattr(jit, "_remember", lambda key, built: None)
    return tmp_path


def test_a_hit_skips_optimisation_and_gives_the_same_code(cache_dir, monkeypatch):
    first = _outputs(compile(NET))
    entries = _entries(cache_dir)
    assert len(entries) == 2   # the forward, and the one-register forward a 5-sample call needs

    def no_passes(*_):
        raise AssertionError("a cache hit must not run the optimiser")

    monkeypatch.setattr(jit, "_run_passes", no_passes)
    again = compile(NET)
    assert _outputs(again).tobytes() == first.tobytes()
    assert _entries(cache_dir) == entries


def test_the_key_separates_dtypes_and_tiers(cache_dir):
    compile(NET)
    compile(NET, dtype="float64")
    compile(NET, strategy="ssa")
    assert len(_entries(cache_dir)) == 3


def test_cache_false_writes_nothing(cache_dir):
    compile(NET, cache=False)
    assert _entries(cache_dir) == []


@pytest.mark.parametrize("damage", ["truncate", "flip", "empty"])
def test_a_corrupt_entry_is_recompiled_with_a_warning(cache_dir, damage):
    first = compile(NET)
    (entry,) = _entries(cache_dir)   # the forward that compile itself loads
    expected = _outputs(first)
    data = entry.read_bytes()
    if damage == "truncate":
        entry.write_bytes(data[: len(data) // 2])
    elif damage == "flip":
        entry.write_bytes(data[:-10] + bytes([data[-10] ^ 0xFF]) + data[-9:])
    else:
        entry.write_bytes(b"")
    with pytest.warns(RuntimeWarning, match="corrupt cache entry"):
        cn = compile(NET)
    assert _outputs(cn).tobytes() == expected.tobytes()
    assert entry.read_bytes() == data


def test_concurrent_processes_writing_one_entry(cache_dir):
    script = textwrap.dedent("""
        import numpy as np, jitnet
        net = jitnet.Net(4, [(0, 2), (1, 2), (2, 3), (0, 3)], activations="tanh")
        cn = jitnet.compile(net)
        x = np.linspace(-1, 1, 10).reshape(5, 2)
        print(cn.forward(x, *cn.init(seed=1)).tobytes().hex())
    """)
    procs = [subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(4)]
    results = [p.communicate(timeout=120) for p in procs]
    assert all(p.returncode == 0 for p in procs), [err for _, err in results]
    assert len({out for out, _ in results}) == 1
    assert len(_entries(cache_dir)) == 2
    assert not [p for p in cache_dir.iterdir() if p.suffix == ".tmp"]
    assert _outputs(compile(NET)).tobytes().hex() == results[0][0].strip()


def test_a_csr_hit_builds_no_ir_and_keeps_the_ir_text(cache_dir, monkeypatch):
    from jitnet import compiler

    first = compile(NET)
    expected = _outputs(first)
    monkeypatch.setattr(compiler, "lower_csr", lambda *_, **__: pytest.fail("a hit must not lower"))
    again = compile(NET)
    assert again.ir_unoptimized == first.ir_unoptimized
    assert _outputs(again).tobytes() == expected.tobytes()
