"""A weight-agnostic net: one shared weight for every edge, scored over a sweep of its values in one call.

Weight-agnostic neural networks (Gaier and Ha, 2019) are judged by their
topology alone: every connection uses the same weight, and a net is good when
it solves the task for many values of that weight. Here a small hand-drawn
topology for XOR-like "same sign?" classification of 2-D points is tied so
that all edges share weight parameter 0 (`net.tied(weight_ties=zeros)`), and
it is scored for the six shared values [-2, -1, -0.5, 0.5, 1, 2] in ONE call:
`cn.forward(x, W)` with `W` of shape (6, 1) gives (6, batch, 1).

The task: is a point of [-1, 1]^2 above the diagonal (x0 + x1 > 0)? The
topology, two inputs, one tanh neuron h reading both, and an output reading
h and both inputs again (skip connections), computes w * (tanh(w s) + s) with
s = x0 + x1: times sign(w), its sign answers the task for every w > 0 and
for -1 <= w < 0 (|tanh(w s)| <= |s| there), not for w = -2, so the sweep
tells the values apart (printed: accuracy 1.0 for five of the six values).
The score of a shared weight is the accuracy of sign(w) * sign(output); the
script prints it per value and the mean, and checks that the one-call sweep
equals six separate calls bit for bit.

Run it from the repository root after `pip install -e .`:

    python examples/wann.py
"""

import numpy as np

import jitnet

SWEEP = np.array([[-2.0], [-1.0], [-0.5], [0.5], [1.0], [2.0]])


def topology() -> jitnet.Net:
    """x0, x1 -> h = tanh(w x0 + w x1) -> out = w h + w x0 + w x1, every edge weight parameter 0."""
    tanh = jitnet.activation_code("tanh")
    net = jitnet.Net(4, [(0, 2), (1, 2), (0, 3), (1, 3), (2, 3)], activations=[0, 0, tanh, 0])
    return net.tied(weight_ties=np.zeros(net.n_edges, dtype=int))


def data(n=400, seed=0):
    """Points in [-1, 1]^2 labelled +1 above the diagonal (x0 + x1 > 0), else -1."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1, 1, size=(n, 2))
    return x, np.where(x[:, 0] + x[:, 1] > 0, 1.0, -1.0)


def scores(cn, x, labels):
    """Accuracy per shared weight of the sweep, from one forward call."""
    y = cn.forward(x, SWEEP)[:, :, 0]
    predicted = np.sign(y) * np.sign(SWEEP)
    return (predicted == labels).mean(axis=1)


def main():
    net = topology()
    cn = jitnet.compile(net, dtype="float64")
    x, labels = data()
    accuracy = scores(cn, x, labels)
    for value, a in zip(SWEEP[:, 0], accuracy):
        print(f"shared weight {value:+5.1f}: accuracy {a:.3f}")
    print(f"mean accuracy over the sweep: {accuracy.mean():.3f} ({net.n_edges} edges, {net.n_weights} weight)")
    one_by_one = np.stack([cn.forward(x, row) for row in SWEEP])
    assert np.array_equal(cn.forward(x, SWEEP), one_by_one), "a sweep row differs from its own call"
    return accuracy


if __name__ == "__main__":
    main()
