"""NAND with one neuron: the perceptron of the ncc notes, then the same neuron learned.

1. A 2-input neuron with the step activation (code 08: 1 if z > 0 else 0)
   and weights -2, -2, bias 3 computes NAND: z = 3 - 2*x1 - 2*x2 is positive
   unless both inputs are 1. The compiled forward pass prints the truth table.
2. Step has derivative 0, so gradient descent cannot train it. With sigmoid
   instead (code 01), the same neuron starts from random weights
   (`init(seed=0)`) and learns NAND by plain full-batch gradient descent on
   the mse loss; rounding its output at 0.5 gives NAND again, and its weights
   come out negative and its bias positive, as in the hand-made perceptron.

Run it from the repository root after `pip install -e .` (or with
`PYTHONPATH=.`):

    python examples/perceptron_nand.py
"""

import numpy as np

import jitnet
from jitnet import Net
from jitnet.optim import SGD

X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=float)
NAND = np.array([[1], [1], [1], [0]], dtype=float)
EDGES = [(0, 2), (1, 2)]  # inputs n00 and n01 feed n02


def perceptron():
    """The step neuron with the hand-picked weights: its outputs on X."""
    cn = jitnet.compile(Net(3, EDGES, activations="step"))
    w = np.array([-2.0, -2.0])  # canonical order: w0002, w0102
    b = np.array([0.0, 0.0, 3.0])  # one bias per neuron; the inputs' are ignored
    return cn.forward(X, w, b)


def learn_nand(epochs=1000, lr=2.0, seed=0):
    """The sigmoid neuron trained on the truth table; returns (cn, w, b, history)."""
    cn = jitnet.compile(Net(3, EDGES, activations="sigmoid"))
    w, b, history = jitnet.train(cn, X, NAND, loss="mse", optimizer=SGD(lr), epochs=epochs,
                                 batch_size=len(X), seed=seed)
    return cn, w, b, history


def _table(title, y):
    print(title)
    print(" x1 x2 | nand | neuron")
    for x, t, out in zip(X, NAND, y):
        print(f"  {x[0]:.0f}  {x[1]:.0f} |  {t[0]:.0f}   | {out[0]:.4f}")
    print()


def main():
    _table("step neuron, w = (-2, -2), b = 3:", perceptron())

    cn, w, b, history = learn_nand()
    w0, b0 = cn.init(seed=0)
    print(f"sigmoid neuron from init(seed=0): w = {np.round(w0, 3)}, b = {b0[2]:.3f}")
    _table(f"after {len(history['loss'])} steps of gradient descent "
           f"(loss {history['loss'][0]:.4f} -> {history['loss'][-1]:.4f}): "
           f"w = {np.round(w, 3)}, b = {b[2]:.3f}", cn.forward(X, w, b))
    learned = np.round(cn.forward(X, w, b))
    print("rounded at 0.5 it computes NAND:", bool(np.array_equal(learned, NAND)))


if __name__ == "__main__":
    main()
