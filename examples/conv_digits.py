"""A true (tied) convolutional net on the 8x8 digits, trained with `jitnet.train`.

`nets.conv2d(8, 8, (1, 6, 8), kernel=3, stride=(1, 2), padding=1, n_outputs=10, tied=True)`:
two 3x3 conv layers (6 then 8 channels, the second with stride 2) and a dense
softmax head. With `tied=True` each kernel is one set of weights used at
every position, as in `torch.nn.Conv2d`, so the net has 600 weight parameters
(54 + 432 + 128 x ... see the printout) for its many thousand edges, and
training updates kernels, not per-position copies. The data split and
scaling are those of `digits.py` (80/20 stratified, seed 0); the net is
trained with softmax cross-entropy, Adam(1e-2), 25 epochs of batches of 32,
and the script prints the test accuracy beside the untied (locally
connected) net with the same edges.

Needs scikit-learn. Run it from the repository root:

    pip install -e '.[examples]'
    python examples/conv_digits.py
"""

import time

from digits import load_digits_split

import jitnet
from jitnet.nets import conv2d
from jitnet.optim import Adam

EPOCHS, SEED = 25, 0


def conv_net(tied: bool) -> jitnet.Net:
    return conv2d(8, 8, (1, 6, 8), kernel=3, stride=(1, 2), padding=1, n_outputs=10, activation="relu",
                  tied=tied)


def fit(net, data):
    """Train `net`; returns (test accuracy, seconds, its parameter count)."""
    x_train, y_train, x_test, y_test = data
    cn = jitnet.compile(net)
    start = time.perf_counter()
    w, b, _ = jitnet.train(cn, x_train, y_train, loss="xent", optimizer=Adam(1e-2), epochs=EPOCHS,
                           batch_size=32, seed=SEED, progress=False)
    seconds = time.perf_counter() - start
    accuracy = float((cn.forward(x_test, w, b).argmax(axis=1) == y_test).mean())
    return accuracy, seconds, cn.n_weights + cn.n_biases


def main():
    data = load_digits_split()
    results = {}
    for tied in (True, False):
        net = conv_net(tied)
        accuracy, seconds, params = fit(net, data)
        results[tied] = accuracy
        kind = "tied (a convolution)" if tied else "untied (locally connected)"
        print(f"{kind:28s} {net.n_edges:6d} edges {params:6d} parameters  "
              f"test accuracy {accuracy:.3f}  training {seconds:.1f} s")
    return results


if __name__ == "__main__":
    main()
