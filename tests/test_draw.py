"""Pictures (SPEC §11): the DOT source's nodes, edges, ranks and summary counts; rendered files."""

import re
import shutil

import numpy as np
import pytest

import jitnet
from jitnet import nets
from jitnet.activations import ACTIVATIONS
from jitnet.draw import draw, summary_groups

needs_dot = pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz's dot is not installed")
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
