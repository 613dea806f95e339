"""Export (SPEC §9): objects and headers that C programs built here link, reproducing Python's bits."""

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

import jitnet
from jitnet import nets
from jitnet.cli import main
from jitnet.export import export

DRIVER = Path(__file__).resolve().parent / "export_driver.c"
CC = shutil.which("cc") or shutil.which("gcc")
pytestmark = pytest.mark.skipif(CC is None, reason="no C compiler (CI installs gcc)")


def _build(tmp_path, net, dtype="float64", cpu="host", backward=True, **kwargs):
    """Export `net` as `net` into tmp_path and build the driver against it."""
    paths = export(net, tmp_path / "net", dtype=dtype, name="net", cpu=cpu, backward=backward, **kwargs)
    assert paths == [str(tmp_path / "net.o"), str(tmp_path / "net.h")]
    scalar = "float" if dtype == "float32" else "double"
    flags = [f"-DT={scalar}"] + (["-DNET_GRAD"] if backward else [])
    done = subprocess.run([CC, "-O2", *flags, f"-I{tmp_path}", str(DRIVER), str(tmp_path / "net.o"), "-lm",
                           "-lpthread", "-o", str(tmp_path / "driver")], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return tmp_path / "driver"


def _run(driver, folder, batch, mode, threads, **arrays):
    for key, value in arrays.items():
        value.tofile(folder / f"{key}.bin")
    done = subprocess.run([str(driver), str(folder), str(batch), mode, str(threads)], capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout.split("\n")


def _read(folder, name, dtype, shape):
    return np.fromfile(folder / f"{name}.bin", dtype=dtype).reshape(shape)


NETS = {
    "dense": lambda: nets.dense([5, 12, 7, 3], activation="tanh"),
    "dag": lambda: nets.random_dag(4, 3, 40, fan_in=(1, 6), n_layers=4,
                                   activation=["relu", "sigmoid", "sin", "selu"], seed=3),
    "conv": lambda: nets.conv2d(6, 6, (1, 3, 4), kernel=3, stride=(1, 2), n_outputs=2, tied=True),
}


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("kind", sorted(NETS))
def test_exported_code_gives_pythons_bits(tmp_path, kind, dtype):
    net = NETS[kind]()
    cn = jitnet.compile(net, dtype=dtype, threads=1)
    driver = _build(tmp_path, net, dtype=dtype)
    rng = np.random.default_rng(1)
    w, b = cn.init(seed=2)
    b = b + rng.normal(scale=0.3, size=b.shape).astype(dtype)
    for batch in (1, 7, 45):
        x = rng.normal(size=(batch, net.n_inputs)).astype(dtype)
        dy = rng.normal(size=(batch, cn.n_outputs)).astype(dtype)
        out = _run(driver, tmp_path, batch, "with", 3, x=x, w=w, b=b, dy=dy)
        assert out[:2] == ["0", "threads agree"]
        assert _read(tmp_path, "y", dtype, (batch, cn.n_outputs)).tobytes() == cn.forward(x, w, b).tobytes()
        assert _run(driver, tmp_path, batch, "nullb", 0)[0] == "0"
        assert np.array_equal(_read(tmp_path, "y", dtype, (batch, cn.n_outputs)), cn.forward(x, w))
        out = _run(driver, tmp_path, batch, "grad", 2)
        assert out[:2] == ["0", "threads agree"]
        g = cn.backward(x, w, b, dy)
        assert _read(tmp_path, "dx", dtype, (batch, net.n_inputs)).tobytes() == g.dx.tobytes()
        assert _read(tmp_path, "dw", dtype, (cn.n_weights,)).tobytes() == g.dw.tobytes()
        assert _read(tmp_path, "db", dtype, (cn.n_biases,)).tobytes() == g.db.tobytes()


def test_embedded_weights_batch_rules_and_symbols(tmp_path):
    net = jitnet.parse("examples/xor_trained.nel")
    driver = _build(tmp_path, net)
    x = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=np.float64)
    assert _run(driver, tmp_path, 4, "own", 0, x=x)[0] == "0"
    want = jitnet.compile(net, dtype="float64").forward(x)
    assert np.array_equal(_read(tmp_path, "y", np.float64, (4, 1)), want)
    assert _run(driver, tmp_path, -1, "own", 0)[0] == "1"
    assert _run(driver, tmp_path, 0, "grad", 0)[0] == "0"
    assert not _read(tmp_path, "dw", np.float64, (net.n_weights,)).any()     # batch 0 zeroes dw (was 7)
    header = (tmp_path / "net.h").read_text()
    for line in ("#ifndef NET_H", 'extern "C" {', "#define NET_N_INPUTS 2", "#define NET_HAS_FORWARD 1",
                 "int net_forward(const double *x, double *y, int64_t batch, void *scratch);"):
        assert line in header
    symbols = subprocess.run(["nm", str(tmp_path / "net.o")], capture_output=True, text=True).stdout.split("\n")
    exported = sorted(line.split()[-1] for line in symbols if line[17:18] in "TDRB" and line.strip())
    assert exported == ["net_backward", "net_forward", "net_forward_with", "net_scratch_bytes"]
    undefined = subprocess.run(["nm", "-u", str(tmp_path / "net.o")], capture_output=True, text=True)
    undefined = undefined.stdout.split()
    assert set(undefined) - {"U"} <= {"malloc", "free", "memcpy", "memset", "fma", "fmaf", "exp", "expf"}


def test_a_net_without_weights_exports_forward_with_only(tmp_path):
    export(nets.dense([2, 2]), tmp_path / "plain.o", backward=False)
    header = (tmp_path / "plain.h").read_text()
    assert "plain_forward_with" in header and "plain_forward(" not in header and "HAS_FORWARD" not in header


@pytest.mark.parametrize("cpu", ["x86-64", "x86-64-v3", "skylake-avx512"])
def test_other_cpus_build_and_avx512_uses_zmm(tmp_path, cpu):
    net = NETS["dense"]()
    export(net, tmp_path / "net", dtype="float32", name="net", cpu=cpu)
    disassembly = subprocess.run(["objdump", "-d", str(tmp_path / "net.o")], capture_output=True, text=True).stdout
    assert ("zmm" in disassembly) == (cpu == "skylake-avx512")
    supported = {"x86-64": True, "x86-64-v3": "avx2" in _flags(), "skylake-avx512": "avx512f" in _flags()}
    if supported[cpu]:
        driver = _build(tmp_path, net, dtype="float32", cpu=cpu, backward=False)
        cn = jitnet.compile(net, threads=1)
        w, b = cn.init(seed=5)
        x = np.random.default_rng(0).normal(size=(33, 5)).astype(np.float32)
        assert _run(driver, tmp_path, 33, "with", 1, x=x, w=w, b=b)[:2] == ["0", "threads agree"]
        assert _read(tmp_path, "y", np.float32, (33, 3)).tobytes() == cn.forward(x, w, b).tobytes()


def _flags() -> str:
    return Path("/proc/cpuinfo").read_text().split("flags", 1)[1].split("\n", 1)[0]


@pytest.mark.parametrize("args, message", [
    (["--cpu", "pentium9"], "unknown cpu 'pentium9'"),
    (["--name", "9lives"], "is not a C identifier"),
    (["-o", "/no/such/folder/net"], "expected an existing folder"),
])
def test_bad_requests_exit_2_before_llvm(tmp_path, capsys, args, message):
    argv = ["export", "examples/xor_trained.nel", "-o", str(tmp_path / "net"), *args]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
    assert not list(tmp_path.iterdir())


def test_shared_without_a_compiler_is_one_line(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.delenv("CC", raising=False)
    assert main(["export", "examples/xor_trained.nel", "-o", str(tmp_path / "net"), "--shared"]) == 2
    assert "needs a C compiler" in capsys.readouterr().err


def test_cli_export_shared_library_and_default_name(tmp_path, capsys):
    assert main(["export", "examples/xor_trained.nel", "-o", str(tmp_path / "my-robot.so"), "--shared",
                 "--dtype", "float64"]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["my-robot.h", "my-robot.so"]
    assert "my_robot_forward" in (tmp_path / "my-robot.h").read_text()
    import ctypes
    lib = ctypes.CDLL(str(tmp_path / "my-robot.so"))
    x = np.array([[1.0, 0.0]])
    y = np.zeros((1, 1))
    assert lib.my_robot_forward(x.ctypes.data_as(ctypes.c_void_p), y.ctypes.data_as(ctypes.c_void_p),
                                ctypes.c_int64(1), None) == 0
    assert np.array_equal(y, jitnet.compile(jitnet.parse("examples/xor_trained.nel"), dtype="float64").forward(x))


def test_the_c_example_prints_pythons_outputs(tmp_path):
    example = Path(__file__).resolve().parent.parent / "examples" / "c"
    shutil.copy(example / "main.c", tmp_path)
    assert main(["export", "examples/xor_trained.nel", "-o", str(tmp_path / "xor"), "--dtype", "float64"]) == 0
    done = subprocess.run([CC, "-O2", "main.c", "xor.o", "-lm", "-o", "xor_demo"], cwd=tmp_path,
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    run = subprocess.run(["./xor_demo"], cwd=tmp_path, input="0 0\n0 1\n1 0\n1 1\n", capture_output=True,
                         text=True, timeout=60)
    printed = np.array([[float(v) for v in line.split()] for line in run.stdout.splitlines()])
    x = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=np.float64)
    want = jitnet.compile(jitnet.parse("examples/xor_trained.nel"), dtype="float64").forward(x)
    assert np.array_equal(printed, want)


def test_outputs_are_readable_like_plain_files_and_bad_values_are_named(tmp_path):
    import os
    import stat
    net = jitnet.parse("examples/xor_trained.nel")
    for path in export(net, tmp_path / "net"):
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o666 & ~_umask()
    with pytest.raises(ValueError, match=r"weights has shape \(2,\); expected \(6,\)"):
        export(net, tmp_path / "bad", weights=[1.0, 2.0])
    with pytest.raises(ValueError, match="biases without weights"):
        export(nets.dense([2, 1]), tmp_path / "bad", biases=np.zeros(3))
    assert not list(tmp_path.glob("bad*"))


def _umask() -> int:
    import os
    mask = os.umask(0)
    os.umask(mask)
    return mask
