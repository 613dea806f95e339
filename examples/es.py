"""An evolution strategy: train a small net from forward passes only, a few hundred weight vectors per call.

Evolution strategies (Salimans et al., 2017) estimate the gradient of the
expected loss from random perturbations of the weights: draw eps_k ~ N(0, 1),
score w + sigma * eps_k and w - sigma * eps_k (antithetic pairs), and step
along sum_k (L(w - sigma eps_k) - L(w + sigma eps_k)) eps_k. No backward
pass is used: all 2K perturbed nets of a step are evaluated by ONE call,
`cn.forward(x, W)` with `W` of shape (2K, n_weights), which gives
(2K, batch, n_outputs).

The task is a 2-8-1 tanh net fitting y = sin(2 x0) * x1 on 256 points; K = 128
pairs (256 weight vectors per step), sigma 0.05, Adam(0.05) on the estimate,
300 steps, biases trained the same way as a second block of parameters. The
script prints the mean squared error every 50 steps and at the end compares
it with the loss of the starting weights.

Run it from the repository root after `pip install -e .`:

    python examples/es.py
"""

import numpy as np

import jitnet
from jitnet.nets import dense
from jitnet.optim import Adam

PAIRS, SIGMA, STEPS = 128, 0.05, 300


def data(n=256, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1, 1, size=(n, 2))
    return x, (np.sin(2 * x[:, 0]) * x[:, 1])[:, None]


def losses(cn, x, y, W, B):
    """Mean squared error of every row of (W, B), from one forward call."""
    return ((cn.forward(x, W, B) - y) ** 2).mean(axis=(1, 2))


def evolve(steps=STEPS, seed=0):
    """Train by antithetic ES; returns (starting loss, final loss, loss every 50 steps)."""
    cn = jitnet.compile(dense([2, 8, 1], activation="tanh"), dtype="float64")
    x, y = data()
    w, b = cn.init(seed=seed)
    opt = Adam(0.05)
    rng = np.random.default_rng(seed)
    start = losses(cn, x, y, w[None], b[None])[0]
    trace = []
    for step in range(steps):
        eps_w = rng.normal(size=(PAIRS, cn.n_weights))
        eps_b = rng.normal(size=(PAIRS, cn.n_biases))
        W = np.concatenate([w + SIGMA * eps_w, w - SIGMA * eps_w])
        B = np.concatenate([b + SIGMA * eps_b, b - SIGMA * eps_b])
        scores = losses(cn, x, y, W, B)
        diff = (scores[:PAIRS] - scores[PAIRS:]) / (2 * SIGMA * PAIRS)
        opt.step([w, b], [diff @ eps_w, diff @ eps_b])
        if step % 50 == 0 or step == steps - 1:
            trace.append((step, losses(cn, x, y, w[None], b[None])[0]))
    return start, trace[-1][1], trace


def main():
    start, final, trace = evolve()
    for step, loss in trace:
        print(f"step {step:3d}  mse {loss:.5f}")
    print(f"mse from {start:.5f} (init) to {final:.5f} with {2 * PAIRS} weight vectors per forward call")
    return start, final


if __name__ == "__main__":
    main()
