"""The `jitnet` command (SPEC §6): output, exit codes, and the installed entry points."""

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import jitnet
from jitnet.cli import main

ROOT = Path(__file__).resolve().parent.parent
SEED = str(ROOT / "examples" / "seed.nal")
SEED_NAM = str(ROOT / "examples" / "seed.nam")
FIXTURES = ROOT / "tests" / "fixtures"


def run(capsys, *argv):
    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def test_eqs_prints_ncc_text(capsys):
    assert run(capsys, "eqs", SEED) == (0, (FIXTURES / "seed.fwd.txt").read_text(), "")
    assert run(capsys, "eqs", SEED_NAM, "--inputs")[1] == (FIXTURES / "seed.fwd_inputs.txt").read_text()
    assert run(capsys, "eqs", SEED, "--matrix")[1] == (FIXTURES / "seed.matrix.txt").read_text()
    assert run(capsys, "eqs", SEED, "--bwd")[1] == (FIXTURES / "seed.bwd.txt").read_text()


def test_info_counts(capsys):
    status, out, _ = run(capsys, "info", SEED)
    assert status == 0
    fields = dict(line.split(": ", 1) for line in out.splitlines())
    assert (fields["neurons"], fields["edges"], fields["inputs"], fields["outputs"], fields["depth"]) \
        == ("14", "28", "4", "2", "3")
    assert fields["fan-in"] == "min 2 mean 2.80 max 4"
    assert fields["fan-out"] == "min 2 mean 2.33 max 3"


@pytest.mark.parametrize("fmt", ["nal", "nam", "nel"])
def test_convert_round_trips(capsys, tmp_path, fmt):
    status, out, err = run(capsys, "convert", SEED, "--to", fmt)
    assert status == 0
    assert jitnet.parse(text=out, format=fmt, activation="relu").edges.tolist() \
        == jitnet.parse(SEED).edges.tolist()
    assert ("drops the activations (relu: 10)" in err) == (fmt == "nam")
    target = tmp_path / f"seed.{fmt}"
    assert run(capsys, "convert", SEED, "--to", fmt, "-o", str(target))[:2] == (0, "")
    assert target.read_text() == out


def test_run_prints_repr_floats_with_the_default_weights(capsys, tmp_path):
    status, out, _ = run(capsys, "run", SEED)
    assert status == 0
    cn = jitnet.compile(SEED)
    x = np.random.default_rng(0).uniform(-1.0, 1.0, cn.n_inputs)
    expected = cn.forward(x, *cn.init(seed=0))
    assert [float(v) for v in out.split()] == expected.tolist()
    assert out == " ".join(repr(float(v)) for v in expected) + "\n"


def test_run_with_inputs_weights_and_dtype(capsys, tmp_path):
    cn = jitnet.compile(SEED, dtype="float64")
    x = np.arange(12.0).reshape(3, 4) / 10
    w, b = cn.init(seed=3)
    np.save(tmp_path / "x.npy", x)
    np.savez(tmp_path / "wb.npz", w=w, b=b + 0.25)
    status, out, _ = run(capsys, "run", SEED, "--input", str(tmp_path / "x.npy"),
                         "--weights", str(tmp_path / "wb.npz"), "--dtype", "float64")
    assert status == 0
    rows = [[float(v) for v in line.split()] for line in out.splitlines()]
    assert rows == cn.forward(x, w, b + 0.25).tolist()


def test_run_uses_a_nel_s_own_weights(capsys, tmp_path):
    net = jitnet.parse(SEED)
    w = np.linspace(-1, 1, net.n_weights)
    path = tmp_path / "trained.nel"
    path.write_text(jitnet.write(net, "nel", weights=w, biases=np.full(net.n_neurons, 0.5)))
    x = np.ones((1, 4))
    np.save(tmp_path / "x.npy", x)
    status, out, _ = run(capsys, "run", str(path), "--input", str(tmp_path / "x.npy"), "--dtype", "float64")
    expected = jitnet.compile(str(path), dtype="float64").forward(x)
    assert status == 0 and [float(v) for v in out.split()] == expected[0].tolist()


def test_ir_and_asm(capsys):
    status, ir, _ = run(capsys, "ir", SEED, "--strategy", "ssa", "--unoptimized")
    assert status == 0 and "%w0004" in ir and "llvm.fma" in ir
    assert "define" in run(capsys, "ir", SEED)[1]
    assert "vfmadd" in run(capsys, "asm", SEED, "--dtype", "float64")[1]


def test_bench_one_net(capsys):
    status, out, _ = run(capsys, "bench", SEED, "--batch", "64", "--threads", "1")
    assert status == 0 and "x numpy" in out and "28" in out


def test_activation_and_format_options(capsys, tmp_path):
    text = Path(SEED_NAM).read_text()
    odd = tmp_path / "seed.txt"
    odd.write_text(text)
    status, out, _ = run(capsys, "eqs", str(odd), "--format", "nam")
    assert status == 0 and out == (FIXTURES / "seed.fwd.txt").read_text()
    relu = run(capsys, "run", str(odd), "--activation", "relu", "--dtype", "float64")[1]
    ident = run(capsys, "run", str(odd), "--dtype", "float64")[1]
    assert relu != ident


@pytest.mark.parametrize("argv", [["info", "missing.nal"], ["eqs", "bad.nal"], ["run", "bad.nal"],
                                  ["run", SEED, "--activation", "nope"]])
def test_bad_input_is_one_line_and_status_2(capsys, tmp_path, monkeypatch, argv):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "bad.nal").write_text("N 03\n00\n01\n02 03 00,07\n")
    status, out, err = run(capsys, *argv)
    assert status == 2 and out == ""
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    if argv[1] == "bad.nal":
        assert err.startswith("jitnet: bad.nal:4:")


def test_python_dash_m_is_the_same_command():
    done = subprocess.run([sys.executable, "-m", "jitnet", "eqs", SEED], capture_output=True, text=True)
    assert done.returncode == 0 and done.stdout == (FIXTURES / "seed.fwd.txt").read_text()
    bad = subprocess.run([sys.executable, "-m", "jitnet", "eqs", "nowhere.nal"], capture_output=True, text=True)
    assert bad.returncode == 2 and len(bad.stderr.splitlines()) == 1


@pytest.mark.skipif(shutil.which("jitnet") is None, reason="the console script is not installed")
def test_installed_console_script():
    done = subprocess.run(["jitnet", "info", SEED], capture_output=True, text=True)
    assert done.returncode == 0 and "neurons: 14" in done.stdout
