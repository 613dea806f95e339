"""Shared by the tests: random arrays for a net, and the evaluator of ncc's equation lines."""

import re

import numpy as np

from jitnet.activations import ACTIVATIONS

# A line of ncc's fwd/bwd text that reads the same as a Python assignment (SPEC §5).
EVALUABLE = re.compile(r"[A-Za-z_][A-Za-z0-9_]* = [A-Za-z0-9_+*() ]+")


def random_values(net, batch, dtype=np.float64, seed=0, n_outputs=None):
    """(x, w, b), and dy when `n_outputs` is given: inputs ~ N(0, 1), weights scaled by
    1/sqrt(fan-in) so activations stay in range whatever the depth, biases ~ N(0, 0.25)."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(batch, net.n_inputs)).astype(dtype)
    w = (rng.uniform(-1, 1, net.n_weights) / np.sqrt(net.fan_in[net.edges[:, 1]])).astype(dtype)
    b = rng.normal(scale=0.5, size=net.n_neurons).astype(dtype)
    if n_outputs is None:
        return x, w, b
    return x, w, b, rng.normal(size=(batch, n_outputs)).astype(dtype)


def namespace(net, w):
    """Weights and every neuron's fXX / dfXX, by ncc name, for evaluating equation lines."""
    space = {"__builtins__": {}}
    for e, (i, j) in enumerate(net.edges.tolist()):
        space["w" + net.name(i)[1:] + net.name(j)[1:]] = w[e]
    for j in range(net.n_neurons):
        act = ACTIVATIONS[net.activations[j]]
        space["f" + net.name(j)[1:]] = act.f
        space["df" + net.name(j)[1:]] = act.df
    return space


def split_lines(text):
    """`lhs = rhs` lines -> [(lhs, rhs)], checking every line is evaluable (SPEC §5)."""
    assert text == "" or text.endswith("\n")
    pairs = []
    for line in text.splitlines():
        assert EVALUABLE.fullmatch(line), line
        lhs, rhs = line.split(" = ")
        pairs.append((lhs, rhs))
    return pairs
