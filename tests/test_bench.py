"""The benchmark suite (`jitnet bench`, jitnet/bench/suite.py) and the other libraries' forms of a net."""

import importlib.util
import sys

import numpy as np
import pytest

import jitnet
from jitnet import nets, reference
from jitnet.bench import suite as bench
from jitnet.bench.baselines import LevelBaseline, NeatBaseline, TorchBaseline
from jitnet.cli import main

COLUMNS = ["net", "edges", "batch", "pass", "compile s", "samples/s", "GFLOP/s", "% peak", "% limit", "x 2 thr",
           "x numpy", "x scipy", "x torch", "x neat"]


def installed(name):
    return importlib.util.find_spec(name) is not None


def table(text):
    """The table of `jitnet bench` output: (header cells, rows of cells), split on runs of spaces."""
    lines = text.splitlines()
    start = next(k for k, line in enumerate(lines) if line.startswith("net "))
    head = lines[start].split("  ")
    rows = [line.split() for line in lines[start + 2:] if line.strip()]
    return [h.strip() for h in head if h.strip()], rows


def test_quick_suite_prints_one_table_with_a_row_per_net_batch_and_pass(capsys):
    status = main(["bench", "--quick"])
    out, err = capsys.readouterr()
    assert status == 0
    head, rows = table(out)
    assert head == COLUMNS
    expected = [(entry.net.n_weights, size, kind) for entry in bench.suite_nets(quick=True)
                for size in entry.batches for kind in ("fwd", "f+b", "l+g")]
    # NOTE: names have spaces; the last 13 cells are the numeric columns.
    assert [(int(r[-13]), int(r[-12]), r[-11].split("=")[0]) for r in rows] == expected
    assert len([line for line in err.splitlines() if line.startswith("[")]) == len(expected) // 3
    for r in rows:
        cells = dict(zip(COLUMNS[1:], r[-13:]))
        assert float(cells["GFLOP/s"]) >= 0 and cells["x 2 thr"] != "-"
        assert cells["% limit"] != "-"
        if cells["pass"].startswith("l+g="):
            assert float(cells["pass"][4:]) > 0 and cells["x numpy"] == cells["x torch"] == "-"
            continue
        assert cells["x numpy"] != "-"
        assert (cells["x scipy"] != "-") == installed("scipy")
        assert (cells["x torch"] != "-") == installed("torch")
        assert (cells["x neat"] != "-") == (installed("neat") and cells["pass"] == "fwd")
    assert "2 flops per edge and sample for fwd, 6 for f+b" in out


def hand_made_rows():
    common = {"name": "fake net", "edges": 1_000_000, "batch": 1000, "dtype": "float32"}
    return [{**common, "pass": "fwd", "compile_s": 0.125, "limit": 40.0,
             "times": {"jitnet": 0.1, "jitnet2": 0.05, "numpy": 0.5, "torch": 0.025, "neat": 123.4}},
            {**common, "pass": "f+b", "compile_s": 0.25,
             "times": {"jitnet": 0.3, "jitnet2": 0.2, "numpy": 1.2, "scipy": 6.0}},
            {**common, "pass": "l+g", "compile_s": 0.25, "times": {"jitnet": 0.27, "jitnet2": 0.25}, "f+b": 0.3}]


def test_format_table_gives_other_over_jitnet_and_counts_2_or_6_flops_per_edge():
    head, rows = table(bench.format_table(hand_made_rows(), peak=100.0))
    assert head == COLUMNS
    fwd, fb, lg = (dict(zip(COLUMNS[1:], r[-13:])) for r in rows)
    assert rows[0][:2] == ["fake", "net"]
    # 2 * 1e6 edges * 1000 samples / 0.1 s = 20 GFLOP/s, 20% of 100 and 50% of the row's limit 40;
    # 1000 / 0.1 s = 10k samples/s
    assert (fwd["samples/s"], fwd["GFLOP/s"], fwd["% peak"], fwd["compile s"]) == ("10k", "20.0", "20", "0.12")
    assert (fwd["% limit"], fb["% limit"]) == ("50", "-")
    assert (fwd["x 2 thr"], fwd["x numpy"], fwd["x scipy"], fwd["x torch"], fwd["x neat"]) \
        == ("2.00", "5.00", "-", "0.25", "1234")
    # 6 * 1e6 * 1000 / 0.3 s = 20 GFLOP/s
    assert (fb["GFLOP/s"], fb["x 2 thr"], fb["x numpy"], fb["x scipy"], fb["x torch"], fb["x neat"]) \
        == ("20.0", "1.50", "4.00", "20.0", "-", "-")
    # l+g: 0.27 s, 0.90 of f+b's 0.3 s; 6 * 1e6 * 1000 / 0.27 s = 22.2 GFLOP/s; no baselines
    assert (lg["pass"], lg["GFLOP/s"], lg["x 2 thr"], lg["x numpy"]) == ("l+g=0.90", "22.2", "1.08", "-")
    no_peak = table(bench.format_table(hand_made_rows()))[1][0]
    assert dict(zip(COLUMNS[1:], no_peak[-13:]))["% peak"] == "-"


def small_nets():
    """The quick suite's nets (relu, identity, tanh), compiled already by the suite test."""
    return [pytest.param(entry.net, id=entry.name) for entry in bench.suite_nets(quick=True)]


def inputs(net, dtype="float32"):
    rng = np.random.default_rng(1)
    w = (rng.uniform(-1, 1, net.n_weights) / 2).astype(dtype)
    b = (0.1 * rng.normal(size=net.n_neurons)).astype(dtype)
    # NOTE: 12 samples: more than the one-register forward's 8, which is not compiled yet.
    x = rng.normal(size=(12, net.n_inputs)).astype(dtype)
    dy = rng.normal(size=(12, net.n_outputs)).astype(dtype)
    return w, b, x, dy


def make(kind, net, w, b, dtype="float32"):
    if kind in ("scipy", "torch", "neat"):
        pytest.importorskip(kind)
    if kind == "neat":
        return NeatBaseline(net, w, b)
    if kind == "torch":
        return TorchBaseline(net, w, b, dtype)
    if kind == "torch.sparse":
        pytest.importorskip("torch")
        return TorchBaseline(net, w, b, dtype, sparse=True)
    return LevelBaseline(net, w, b, dtype, sparse=kind == "scipy")


KINDS = ["numpy", "scipy", "torch", "torch.sparse", "neat"]


@pytest.mark.parametrize("net", small_nets())
@pytest.mark.parametrize("kind", KINDS)
def test_baselines_compute_what_jitnet_computes(kind, net):
    w, b, x, dy = inputs(net)
    cn = jitnet.compile(net, threads=1)
    other = make(kind, net, w, b)
    np.testing.assert_allclose(other.forward(x), cn.forward(x, w, b), rtol=1e-4, atol=1e-5)
    if kind != "neat":
        expected = cn.backward(x, w, b, dy)
        got = other.edge_gradients(other.forward_backward(x, dy))
        for name, a, e in zip(("dx", "dw", "db"), got, expected):
            np.testing.assert_allclose(a, e, rtol=1e-4, atol=1e-5, err_msg=name)


@pytest.mark.parametrize("kind", KINDS[:-1])
def test_baselines_handle_every_activation_code(kind):
    """Against the float64 oracle: a random DAG whose hidden neurons draw all 16 codes."""
    net = nets.random_dag(5, 3, 40, fan_in=(1, 4), n_layers=4, activation=list(range(16)), seed=2)
    w, b, x, dy = inputs(net, "float64")
    other = make(kind, net, w, b, "float64")
    np.testing.assert_allclose(other.forward(x), reference.forward(net, x, w, b).y, rtol=1e-9, atol=1e-12)
    expected = reference.vjp(net, x, w, b, dy)
    for name, a, e in zip(("dx", "dw", "db"), other.edge_gradients(other.forward_backward(x, dy)),
                          expected):
        np.testing.assert_allclose(a, e, rtol=1e-9, atol=1e-12, err_msg=name)


def test_neat_refuses_activations_it_cannot_compute_exactly():
    pytest.importorskip("neat")
    net = nets.dense([3, 2, 1], activation="sigmoid")
    with pytest.raises(ValueError, match="activation codes \\[1\\]"):
        NeatBaseline(net, np.ones(net.n_weights), np.zeros(net.n_neurons))
    assert bench.make_baseline("neat", net, np.ones(net.n_weights), np.zeros(net.n_neurons),
                               "float32") is None


def test_plot_writes_a_png(tmp_path):
    pytest.importorskip("matplotlib")
    path = tmp_path / "bench.png"
    bench.plot(hand_made_rows(), path)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 10_000


def test_plot_without_matplotlib_is_a_clear_error(capsys, monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    status = main(["bench", "--quick", "--plot", str(tmp_path / "out.png")])
    out, err = capsys.readouterr()
    assert (status, out) == (2, "")
    assert err == "jitnet: --plot needs matplotlib: pip install 'jitnet[bench]'\n"


def test_bad_bench_arguments_exit_2(capsys):
    assert main(["bench", "--batch", "0"]) == 2
    assert "--batch 0: expected a positive integer" in capsys.readouterr().err


def test_a_broken_threading_path_is_seen(monkeypatch):
    from jitnet.native import pool
    net = jitnet.nets.dense([64, 64, 10])
    rows = bench.measure(net, batch=8192, threads=2, repeats=1, min_time=0.0, libraries=())
    assert rows[0]["times"]["jitnet2"] > 0
    monkeypatch.setattr(pool, "run_each", lambda count, run: run(0))   # drops every chunk but the first
    with pytest.raises(RuntimeError, match="2-thread .* differs from its 1-thread one: the threading path"):
        bench.measure(net, batch=8192, threads=2, repeats=1, min_time=0.0, libraries=())
