"""XOR: a 2-2-1 sigmoid net learns the function no single neuron can compute.

XOR is not linearly separable, so it needs the hidden layer. The net is
`jitnet.nets.dense([2, 2, 1])` with sigmoid everywhere, trained on the four
rows of the truth table with the mse loss (0.5 * (y - t)^2 per sample) until
the mean loss is below 0.01.

A 2-2-1 net has flat regions and a local minimum (mean loss 0.0625, one
output stuck at 0.5) that some starting weights fall into. Adam with a large
step (lr 0.1) on the full batch, from `init(seed=0)`, converges in about 80
epochs; 200 leave a wide margin.

Run it from the repository root after `pip install -e .` (or with
`PYTHONPATH=.`):

    python examples/xor.py
"""

import numpy as np

import jitnet
from jitnet.nets import dense
from jitnet.optim import Adam

X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=float)
Y = np.array([[0], [1], [1], [0]], dtype=float)


def learn_xor(epochs=200, seed=0):
    """Train the 2-2-1 net on XOR; returns (cn, w, b, history)."""
    cn = jitnet.compile(dense([2, 2, 1], activation="sigmoid", output_activation="sigmoid"))
    w, b, history = jitnet.train(cn, X, Y, loss="mse", optimizer=Adam(0.1), epochs=epochs,
                                 batch_size=len(X), seed=seed)
    return cn, w, b, history


def main():
    cn, w, b, history = learn_xor()
    for epoch in (1, 10, 50, 100, len(history["loss"])):
        print(f"epoch {epoch:3d}  loss {history['loss'][epoch - 1]:.6f}")
    print("\n x1 x2 | xor | net output")
    for x, t, y in zip(X, Y, cn.forward(X, w, b)):
        print(f"  {x[0]:.0f}  {x[1]:.0f} |  {t[0]:.0f}  | {y[0]:.4f}")
    print(f"\nfinal loss {history['loss'][-1]:.6f} (target < 0.01)")


if __name__ == "__main__":
    main()
