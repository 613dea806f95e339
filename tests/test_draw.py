"""Pictures (SPEC §11): the DOT source's nodes, edges, ranks and summary counts; rendered files."""

import os
import re
import shutil

import numpy as np
import pytest

import jitnet
from jitnet import nets
from jitnet.activations import ACTIVATIONS
from jitnet.cli import main
from jitnet.draw import draw, summary_groups

# NOTE: CI installs Graphviz, so there a missing `dot` fails the test instead of skipping it.
needs_dot = pytest.mark.skipif(shutil.which("dot") is None and os.environ.get("CI") != "true",
                               reason="Graphviz's dot is not installed")
EDGE = re.compile(r"^\s*(\w+) -> (\w+) \[(.*)\]$", re.M)


def _visible_edges(source):
    return [(a, b, attrs) for a, b, attrs in EDGE.findall(source) if "invis" not in attrs]


def _ranks(source):
    """Node names per rank subgraph, in order."""
    blocks = re.findall(r"subgraph rank(\d+) \{(.*?)\n\t\}", source, re.S)
    return {int(r): re.findall(r"^\s*(n[0-9a-f]+) \[", body, re.M) for r, body in blocks}


def test_every_neuron_and_edge_once_ranked_by_depth():
    net = jitnet.parse("examples/seed.nal")
    source = draw(net).source
    edges = _visible_edges(source)
    assert sorted((a, b) for a, b, _ in edges) == sorted((net.name(i), net.name(j)) for i, j in net.edges)
    ranks = _ranks(source)
    for j in range(net.n_neurons):
        assert net.name(j) in ranks[int(net.depth[j])]
    assert ranks[0] == [net.name(j) for j in net.inputs]
    label = re.search(r"n04 \[label=\"n04\\nrelu\"", source)
    assert label is not None


def test_outputs_share_the_last_rank():
    net = jitnet.Net(5, [(0, 2), (1, 2), (2, 4), (3, 4)], activations=[0, 0, 3, 0, 1], outputs=[2, 4])
    ranks = _ranks(draw(net).source)
    assert ranks[max(ranks)] == ["n02", "n04"]


def test_weights_give_colour_and_width():
    net = nets.dense([2, 3, 1])
    w = np.linspace(-2.0, 1.0, net.n_weights)
    edges = _visible_edges(draw(net, weights=w).source)
    order = {(net.name(i), net.name(j)): e for e, (i, j) in enumerate(net.edges)}
    for a, b, attrs in edges:
        e = order[a, b]
        colour = re.search(r'color="(#\w+)"', attrs).group(1)
        width = float(re.search(r"penwidth=([\d.]+)", attrs).group(1))
        assert colour == ("#2b6cb0" if w[e] >= 0 else "#c53030")
        assert width == pytest.approx(0.5 + 3.5 * abs(w[e]) / 2.0, abs=0.01)


def test_wrong_weights_and_extension():
    net = nets.dense([2, 1])
    with pytest.raises(ValueError, match=r"expected \(2,\)"):
        draw(net, weights=[1.0])
    with pytest.raises(ValueError, match=r"\.svg, \.png, \.pdf or \.dot"):
        draw(net, "net.jpg")


def test_summary_counts_groups_and_edges():
    net = nets.random_dag(16, 4, 300, fan_in=(2, 6), n_layers=4, activation=["relu", "tanh"], seed=1)
    source = draw(net, max_edges=100).source
    group, keys, counts = summary_groups(net)
    assert counts.sum() == net.n_edges
    assert np.bincount(group).sum() == net.n_neurons
    nodes = dict(re.findall(r'^\s*(g\d+) \[label="[^"]*\\n(\d+) neurons?"', source, re.M))
    assert sorted(int(v) for v in nodes.values()) == sorted(np.bincount(group).tolist())
    labelled = {(a, b): int(re.search(r'label="(\d+) edges?"', attrs).group(1))
                for a, b, attrs in _visible_edges(source)}
    assert sum(labelled.values()) == net.n_edges
    for (a, b), n in labelled.items():
        assert counts[int(a[1:]), int(b[1:])] == n
    names = {ACTIVATIONS[int(c)].name for c in keys[:, 1] if c >= 0}
    assert names == {"relu", "tanh", "identity"}


def test_dot_file_needs_no_program(tmp_path, monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    path = tmp_path / "net.dot"
    graph = draw(nets.dense([2, 2, 1]), path)
    assert path.read_text() == graph.source
    with pytest.raises(RuntimeError, match="install Graphviz"):
        draw(nets.dense([2, 2, 1]), tmp_path / "net.svg")


@needs_dot
def test_svg_png_pdf_rendered(tmp_path):
    net = jitnet.parse("examples/seed.nal")
    draw(net, tmp_path / "net.svg")
    draw(net, tmp_path / "net.png")
    draw(net, tmp_path / "net.pdf")
    assert b"<svg" in (tmp_path / "net.svg").read_bytes()
    assert (tmp_path / "net.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (tmp_path / "net.pdf").read_bytes()[:5] == b"%PDF-"


@needs_dot
def test_notebook_svg():
    from jitnet.draw import repr_svg
    assert "<svg" in repr_svg(nets.dense([2, 2, 1]))


def test_cli_draws_the_file_with_its_weights(tmp_path, capsys):
    path = tmp_path / "net.dot"
    assert main(["draw", "examples/xor_trained.nel", "-o", str(path)]) == 0
    net = jitnet.parse("examples/xor_trained.nel")
    assert path.read_text() == draw(net).source
    w = -np.arange(1, net.n_weights + 1, dtype=float)
    np.savez(tmp_path / "wb.npz", w=w)
    assert main(["draw", "examples/xor_trained.nel", "-o", str(path), "--weights", str(tmp_path / "wb.npz")]) == 0
    assert path.read_text() == draw(net, weights=w).source


def test_cli_draw_summary_above_max_edges(tmp_path):
    path = tmp_path / "net.dot"
    assert main(["draw", "examples/dense_4_4_4_2.nam", "-o", str(path), "--max-edges", "5"]) == 0
    net = jitnet.parse("examples/dense_4_4_4_2.nam")
    assert path.read_text() == draw(net, max_edges=5).source
    assert "n04" not in path.read_text()


@pytest.mark.parametrize("output, message", [
    ("net.jpg", r"net\.jpg: expected a \.svg or \.png or \.pdf or \.dot file"),
    ("missing/net.svg", "expected an existing folder"),
])
def test_cli_draw_refuses_bad_outputs_before_reading(tmp_path, capsys, output, message):
    assert main(["draw", "no-such-net.nal", "-o", str(tmp_path / output)]) == 2
    err = capsys.readouterr().err
    assert re.search(message, err) and err.count("\n") == 1


def test_cli_draw_names_the_missing_program(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    assert main(["draw", "examples/seed.nal", "-o", str(tmp_path / "net.svg")]) == 2
    err = capsys.readouterr().err
    assert "install Graphviz" in err and err.count("\n") == 1
