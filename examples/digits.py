"""Handwritten digits: a dense 64-32-10 net beside a sparse one that sees a quarter of the pixels.

scikit-learn's 8x8 digits (1797 images, pixel values 0-16 scaled to 0-1) are
split 80/20, stratified, into training and test sets. Two nets are trained
the same way (softmax cross-entropy, Adam(3e-3), 30 epochs of batches of 32,
seed 0):

- dense: `jitnet.nets.dense([64, 32, 10])`, relu hidden layer, 2368 edges
  (about 97% test accuracy);
- sparse: the same layers, but each hidden neuron reads a random 25% of the
  pixels (16 of 64), so the first layer has a quarter of the edges (832 in
  all; about 96%).

jitnet compiles any DAG, so the sparse net is just a different edge list: it
costs no masks and no zero weights, and its arithmetic shrinks with its
edges. The table compares test accuracy, training time and inference
throughput. With batches of 32, Python's per-step overhead (the optimizer
included) is much of the training time, so training gains less than the
edge ratio; inference on the whole test set shows the gap better.

Needs scikit-learn. Run it from the repository root:

    pip install -e '.[examples]'     # or: pip install scikit-learn, and PYTHONPATH=.
    python examples/digits.py
"""

import sys
import time

import numpy as np

import jitnet
from jitnet import Net
from jitnet.nets import dense
from jitnet.optim import Adam

N_PIXELS, N_HIDDEN, N_CLASSES = 64, 32, 10
SEED = 0


def load_digits_split():
    """(x_train, y_train, x_test, y_test): pixels scaled to [0, 1], integer class labels."""
    try:
        from sklearn.datasets import load_digits
        from sklearn.model_selection import train_test_split
    except ImportError:
        sys.exit("digits.py needs scikit-learn: pip install -e '.[examples]' (or pip install scikit-learn)")
    digits = load_digits()
    x = digits.data / 16.0
    x_train, x_test, y_train, y_test = train_test_split(
        x, digits.target, test_size=0.2, random_state=SEED, stratify=digits.target)
    return x_train, y_train, x_test, y_test


def sparse_net(fraction=0.25, seed=SEED) -> Net:
    """64-32-10 with each hidden neuron reading a random `fraction` of the pixels; outputs dense."""
    rng = np.random.default_rng(seed)
    hidden = range(N_PIXELS, N_PIXELS + N_HIDDEN)
    outputs = range(N_PIXELS + N_HIDDEN, N_PIXELS + N_HIDDEN + N_CLASSES)
    seen = round(fraction * N_PIXELS)
    edges = [(int(i), j) for j in hidden for i in rng.choice(N_PIXELS, size=seen, replace=False)]
    edges += [(i, j) for j in outputs for i in hidden]
    codes = [0] * N_PIXELS + [3] * N_HIDDEN + [0] * N_CLASSES  # identity inputs, relu hidden, identity outputs
    return Net(N_PIXELS + N_HIDDEN + N_CLASSES, edges, activations=codes)


def fit(net, data, epochs=30):
    """Train `net` on the digits; returns a dict of its results."""
    x_train, y_train, x_test, y_test = data
    cn = jitnet.compile(net)
    started = time.perf_counter()
    w, b, history = jitnet.train(cn, x_train, y_train, loss="xent", optimizer=Adam(3e-3),
                                 epochs=epochs, batch_size=32, seed=SEED, validation=(x_test, y_test))
    train_seconds = time.perf_counter() - started
    return dict(cn=cn, w=w, b=b, history=history, train_seconds=train_seconds,
                samples_per_second=_throughput(cn, x_test, w, b))


def _throughput(cn, x, w, b, seconds=0.3) -> float:
    """Forward samples per second on `x` (best of repeated timed runs of at least `seconds` in all)."""
    cn.forward(x, w, b)  # warm up: scratch buffers, caches
    best, spent = float("inf"), 0.0
    while spent < seconds:
        started = time.perf_counter()
        cn.forward(x, w, b)
        elapsed = time.perf_counter() - started
        best, spent = min(best, elapsed), spent + elapsed
    return len(x) / best


def main():
    data = load_digits_split()
    print(f"digits: {len(data[0])} training and {len(data[2])} test images of {N_PIXELS} pixels\n")
    results = {"dense 64-32-10": fit(dense([N_PIXELS, N_HIDDEN, N_CLASSES]), data),
               "sparse, 25% of pixels": fit(sparse_net(), data)}

    for name, r in results.items():
        accuracy = r["history"]["val_accuracy"]
        trace = "  ".join(f"{k}: {accuracy[k - 1]:.3f}" for k in (1, 5, 10, 20, len(accuracy)))
        print(f"{name:<24}test accuracy after epoch {trace}")
    print(f"\n{'net':<24}{'edges':>7}{'test acc':>10}{'train time':>12}{'inference':>24}")
    for name, r in results.items():
        print(f"{name:<24}{r['cn'].n_weights:>7}{r['history']['val_accuracy'][-1]:>10.1%}"
              f"{r['train_seconds']:>10.2f} s{r['samples_per_second'] / 1e6:>12.2f} M samples/s")


if __name__ == "__main__":
    main()
