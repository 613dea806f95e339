"""The `jitnet` command (SPEC §6): output, exit codes, and the installed entry points."""

import argparse
import os
import re
import shutil
import subprocess
import sys
import time
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


# --- what a new user meets: the real command in a subprocess ------------------------------------

def cli(*argv, cwd=None):
    """`python -m jitnet ARGV` against this worktree: (status, stdout, stderr)."""
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    done = subprocess.run([sys.executable, "-m", "jitnet", *map(str, argv)], capture_output=True, text=True,
                          env=env, cwd=cwd)
    return done.returncode, done.stdout, done.stderr


def one_error(err):
    """The single `jitnet: ...` line of a failed command (no traceback, nothing else)."""
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("jitnet: ") and "Traceback" not in err, err
    return lines[0]


@pytest.fixture
def trained_nel(tmp_path):
    """The seed net with weights and biases, as a .nel."""
    net = jitnet.parse(SEED)
    path = tmp_path / "trained.nel"
    path.write_text(jitnet.write(net, "nel", weights=np.linspace(-1, 1, net.n_weights),
                                 biases=np.full(net.n_neurons, 0.5)))
    return path


def test_convert_warns_naming_what_it_drops_and_strict_fails(tmp_path, trained_nel):
    status, out, err = cli("convert", SEED, "--to", "nam")
    assert status == 0 and out == jitnet.write(jitnet.parse(SEED), "nam")
    assert err == ("jitnet: warning: --to nam drops the activations (relu: 10): the converted net computes "
                   "something else; use --to nel to keep them (--strict makes this an error)\n")
    status, _, err = cli("convert", trained_nel, "--to", "nal")
    assert status == 0 and len(err.splitlines()) == 1
    assert "drops the weights and the biases" in err and "--to nel" in err
    assert "activations" not in err, "a NAL keeps the activations"
    # A NEL `out` line reaches a Net through parse; here the Net is built with its readout list.
    from jitnet.cli import dropped
    net = jitnet.parse(SEED)
    readout = jitnet.Net(net.n_neurons, net.edges, activations=net.activations, outputs=[13, 4])
    assert dropped(readout, "nal") == ["the explicit outputs"] and dropped(readout, "nel") == []
    assert dropped(readout, "nam") == ["the activations (relu: 10)", "the explicit outputs"]
    assert cli("convert", trained_nel, "--to", "nel")[2] == ""

    target = tmp_path / "out.nal"
    status, out, err = cli("convert", trained_nel, "--to", "nal", "--strict", "-o", target)
    assert status == 2 and out == "" and "(--strict)" in one_error(err)
    assert not target.exists() and list(tmp_path.iterdir()) == [trained_nel], "nothing written"


def test_convert_output_is_checked_first_and_written_whole(tmp_path):
    status, _, err = cli("convert", SEED, "--to", "nal", "-o", tmp_path / "seed.nam")
    assert status == 2 and "expected a .nal file for --to nal" in one_error(err)
    assert cli("convert", SEED, "--to", "nal", "-o", tmp_path / "no" / "seed.nal")[0] == 2
    target = tmp_path / "seed.nal"
    assert cli("convert", SEED, "--to", "nal", "-o", target)[0] == 0
    assert target.read_text() == Path(SEED).read_text().replace("\r\n", "\n") or \
        jitnet.parse(target) == jitnet.parse(SEED)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["seed.nal"], "no temporary file left"


def test_info_shows_what_a_net_carries(trained_nel):
    status, out, _ = cli("info", trained_nel)
    fields = dict(line.split(": ", 1) for line in out.splitlines())
    assert status == 0
    assert (fields["n_edges"], fields["n_weights"], fields["n_biases"]) == ("28", "28", "14")
    assert fields["activations"] == "relu: 10"
    assert (fields["weights"], fields["biases"]) == ("yes", "yes")
    assert fields["explicit outputs"] == "none" and fields["outputs"] == "2"
    plain = dict(line.split(": ", 1) for line in cli("info", SEED_NAM, "--activation", "tanh")[1].splitlines())
    assert (plain["activations"], plain["weights"], plain["biases"], plain["explicit outputs"]) \
        == ("tanh: 10", "no", "no", "none")
    assert fields["ties"] == "none"


def test_info_shows_ties(tmp_path):
    net = jitnet.nets.conv2d(5, 5, (1, 2), kernel=3, tied=True)
    (tmp_path / "conv.nel").write_text(jitnet.write(net, "nel"))
    fields = dict(line.split(": ", 1) for line in cli("info", tmp_path / "conv.nel")[1].splitlines())
    assert (fields["n_edges"], fields["n_weights"], fields["n_biases"]) == ("162", "18", "2")
    assert fields["ties"] == "162 edges share 18 weight parameters; 18 biases share 2 bias parameters"


def test_atomic_write_leaves_the_old_file_when_writing_fails(tmp_path, monkeypatch):
    from jitnet import files as module
    target = tmp_path / "out.nel"
    target.write_text("old\n")

    def broken(src, dst):
        raise OSError(28, "No space left on device", str(dst))
    monkeypatch.setattr(module.os, "replace", broken)
    with pytest.raises(OSError):
        module.write_atomically(str(target), "new\n" * 1000)
    assert target.read_text() == "old\n" and list(tmp_path.iterdir()) == [target]


@pytest.mark.parametrize("make, flag, expected", [
    (lambda d: (d / "x.csv").write_text("1,2,3,4\n") and d / "x.csv", "--input",
     r"x\.csv: expected a \.npy array \(numpy\.save\) for --input, got a text file"),
    (lambda d: np.savez(d / "x.npz", x=np.ones(4)) or d / "x.npz", "--input",
     r"x\.npz: expected a \.npy array \(numpy\.save\) for --input, got an \.npz archive"),
    (lambda d: np.save(d / "wb.npy", np.ones(28)) or d / "wb.npy", "--weights",
     r"wb\.npy: expected an \.npz archive \(numpy\.savez\) with arrays w \(and optionally b\) for --weights, "
     r"got a \.npy array"),
    (lambda d: np.savez(d / "wb.npz", weights=np.ones(28)) or d / "wb.npz", "--weights",
     r"wb\.npz: expected arrays w \(and optionally b\) for --weights, got weights$"),
    (lambda d: np.savez(d / "wb.npz", w=np.ones(5)) or d / "wb.npz", "--weights",
     r"wb\.npz: expected w of shape \(28,\), one per weight of the net, got shape \(5,\)"),
    (lambda d: np.save(d / "x.npy", np.ones((2, 3))) or d / "x.npy", "--input",
     r"x\.npy: expected an array \(4,\) or \(batch, 4\), got shape \(2, 3\)"),
])
def test_wrong_kinds_of_file_name_the_file(tmp_path, make, flag, expected):
    path = make(tmp_path)
    status, out, err = cli("run", SEED, flag, path, cwd=tmp_path)
    line = one_error(err)
    assert status == 2 and out == ""
    assert re.search(r"^jitnet: \S+: expected .*, got ", line) and re.search(expected, line), line
    assert str(path) in line


def test_train_checks_its_output_before_training(tmp_path):
    np.savez(tmp_path / "data.npz", x=np.zeros((4, 4)), y=np.zeros((4, 2)))
    started = time.perf_counter()
    status, out, err = cli("train", SEED, "--data", tmp_path / "data.npz", "-o", tmp_path / "o.nal")
    assert status == 2 and out == "", "no epoch was trained"
    assert "o.nal: expected a .nel file for jitnet train" in one_error(err) and "OUT.nel" in err
    status, out, err = cli("train", SEED, "--data", tmp_path / "data.npz", "-o", "/missing/dir/o.nel")
    assert status == 2 and out == ""
    assert "expected an existing folder, got no folder /missing/dir" in one_error(err)
    assert time.perf_counter() - started < 20
    if os.geteuid() != 0:
        locked = tmp_path / "locked"
        locked.mkdir()
        locked.chmod(0o500)
        status, out, err = cli("train", SEED, "--data", tmp_path / "data.npz", "-o", locked / "o.nel")
        assert status == 2 and out == "" and "a folder you can write to" in one_error(err)


def test_train_that_diverges_stops_naming_epoch_and_lr_and_keeps_the_old_output(tmp_path):
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "data.npz", x=rng.normal(size=(8, 4)) * 100, y=rng.normal(size=(8, 2)) * 100)
    target = tmp_path / "o.nel"
    target.write_text("old\n")
    status, out, err = cli("train", SEED_NAM, "--data", tmp_path / "data.npz", "-o", target, "--optimizer", "sgd",
                           "--lr", "1e6", "--epochs", "50", "--dtype", "float64")
    assert status == 2 and out == ""
    assert re.search(r"^jitnet: the loss became (inf|nan) in epoch \d+ .*lr=1e\+06", one_error(err)), err
    assert target.read_text() == "old\n" and sorted(p.name for p in tmp_path.iterdir()) == ["data.npz", "o.nel"]


def test_activation_for_a_file_with_its_own_codes_warns(tmp_path, trained_nel):
    status, out, err = cli("info", SEED, "--activation", "tanh")
    assert status == 0 and err == (f"jitnet: warning: --activation tanh is unused: {SEED} gives every neuron "
                                   f"its own activation\n")
    assert "unused" in cli("info", trained_nel, "--activation", "tanh")[2], "every NEL neuron has an act line"
    assert cli("info", SEED_NAM, "--activation", "tanh")[2] == ""
    partial = tmp_path / "partial.nel"
    partial.write_text("N 03\n00 02\n01 02\n")
    assert cli("info", partial, "--activation", "relu")[2] == ""


def test_epochs_zero_is_an_error(tmp_path):
    np.savez(tmp_path / "data.npz", x=np.zeros((4, 4)), y=np.zeros((4, 2)))
    status, out, err = cli("train", SEED, "--data", tmp_path / "data.npz", "-o", tmp_path / "o.nel",
                           "--epochs", "0")
    assert status == 2 and out == "" and "argument --epochs: expected a positive integer, got 0" in err
    assert not (tmp_path / "o.nel").exists()


def test_help_gives_every_option_its_meaning_and_default():
    from jitnet.cli import DESCRIPTION, _parser
    status, out, _ = cli("--help")
    assert status == 0 and " ".join(out.split("\n\n")[1].split()) == DESCRIPTION
    assert DESCRIPTION.startswith("Compile, run, train and convert neural nets")
    subparsers = next(a for a in _parser()._actions if isinstance(a, argparse._SubParsersAction))
    for name, parser in subparsers.choices.items():
        text = " ".join(cli(name, "--help")[1].split())
        for action in parser._actions:
            assert action.help, f"{name} {action.option_strings or action.dest} has no help"
            if action.default not in (None, False, argparse.SUPPRESS) and action.option_strings:
                assert f"(default: {action.default})" in text, (name, action.dest)
    assert "(default: 0.001)" in " ".join(cli("train", "--help")[1].split())


def test_version():
    assert cli("--version")[:2] == (0, f"jitnet {jitnet.__version__}\n")


def test_errors_use_flag_spellings(tmp_path):
    line = one_error(cli("eqs", SEED, "--matrix", "--inputs")[2])
    assert "--inputs applies to" in line and "include_inputs" not in line
    odd = tmp_path / "seed.txt"
    odd.write_text(Path(SEED).read_text())
    line = one_error(cli("info", odd)[2])
    assert "--format nal" in line and "format=" not in line


def test_a_closed_pipe_is_quiet(tmp_path):
    np.save(tmp_path / "x.npy", np.ones((200_000, 4)))
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.Popen([sys.executable, "-m", "jitnet", "run", SEED, "--input", str(tmp_path / "x.npy")],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    first = proc.stdout.readline()
    proc.stdout.close()
    err = proc.stderr.read()
    proc.stderr.close()
    assert proc.wait(timeout=60) == 0 and err == b"" and first.count(b" ") == 1


def test_run_classes_prints_the_argmax_per_sample(tmp_path):
    cn = jitnet.compile(SEED)
    x = np.random.default_rng(1).normal(size=(50, 4))
    np.save(tmp_path / "x.npy", x)
    status, out, _ = cli("run", SEED, "--input", tmp_path / "x.npy", "--classes")
    want = np.argmax(cn.forward(x, *cn.init(seed=0)), axis=1)
    assert status == 0 and out.split("\n")[:-1] == [str(k) for k in want] and len(set(want)) == 2


def test_library_bugs_keep_their_traceback(monkeypatch):
    """Only user-facing errors are exit 2: a KeyError inside jitnet is a bug, not bad input."""
    from jitnet import cli as module

    def buggy(args):
        raise KeyError("internal")
    monkeypatch.setattr(module, "_info", buggy)
    with pytest.raises(KeyError):
        module.main(["info", SEED])


def test_ir_backward_prints_the_gradient_ir():
    status, out, _ = cli("ir", SEED, "--backward", "--dtype", "float64")
    assert status == 0 and out == jitnet.compile(SEED, dtype="float64").ir_backward
    assert "define" in out


def test_epoch_lines_use_one_number_format(tmp_path):
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "data.npz", x=rng.normal(size=(16, 4)), y=rng.integers(0, 2, 16))
    status, out, _ = cli("train", SEED, "--data", tmp_path / "data.npz", "-o", tmp_path / "o.nel",
                         "--loss", "xent", "--epochs", "2")
    assert status == 0
    for line in out.splitlines():
        m = re.fullmatch(r"epoch \d/2 loss (\S+) accuracy (\S+)", line)
        assert m and all(v == f"{float(v):.6g}" for v in m.groups()), line


def test_pytest_reports_skip_reasons():
    line = (ROOT / "pyproject.toml").read_text().split("addopts", 1)[1].split("\n", 1)[0]
    assert "-rs" in line.split("=", 1)[1].strip(' "').split()


def test_bad_example_error_is_shown_verbatim_in_the_reference():
    status, _, err = cli("info", "examples/bad.nal", cwd=ROOT)
    line = one_error(err)
    assert status == 2 and line.startswith("jitnet: examples/bad.nal:")
    assert line in (ROOT / "docs" / "reference.md").read_text()


def test_the_trained_xor_example_runs_as_xor(tmp_path):
    x = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=float)
    np.save(tmp_path / "x.npy", x)
    status, out, _ = cli("run", ROOT / "examples" / "xor_trained.nel", "--input", tmp_path / "x.npy")
    y = [float(line) for line in out.split()]
    assert status == 0 and np.round(y).tolist() == [0, 1, 1, 0]
