"""Tied parameters and many weight vectors per call: what they cost, measured beside the plain calls.

    python -m pip install -e ".[torch]" && python benchmarks/ties.py

Rows (float32, one thread, medians of repeats; ratios in the same run):
1. The suite's conv net (28x28, 3x3, 8 then 16 channels, stride 1 then 2,
   a 10-unit head) tied and untied at batch 4096: forward and backward, so the
   price of expanding the parameters and folding dw per parameter shows as a
   ratio; then a training step (loss_and_grad) at batch 256 tied, untied and
   torch's Conv2d forward + autograd.
2. 64-32-10 under S = 256 weight vectors at batch 256 (`forward(x, W)`):
   samples x vectors per second against one batch of 65,536 through one
   vector, and against a Python loop of 256 `forward` calls.
"""


import numpy as np

import jitnet
from jitnet import nets, ties
from jitnet.bench.suite import median_time


def conv(tied):
    return nets.conv2d(28, 28, (1, 8, 16), kernel=3, stride=(1, 2), n_outputs=10, tied=tied)


def conv_rows(rng):
    rows = []
    x = rng.normal(size=(4096, 784)).astype(np.float32)
    dy = rng.normal(size=(4096, 10)).astype(np.float32)
    timed = {}
    for tied in (False, True):
        net = conv(tied)
        # NOTE: stride 2 leaves the last row and column of layer 1 unread; read out the head only.
        cn = jitnet.compile(net, outputs=range(net.n_neurons - 10, net.n_neurons), threads=1)
        w, b = cn.init(seed=0)
        timed[tied, "forward"] = median_time(lambda: cn.forward(x, w, b))
        timed[tied, "backward"] = median_time(lambda: cn.backward(x, w, b, dy), repeats=5)
        t = np.zeros(256, dtype=np.int64)
        timed[tied, "step"] = median_time(lambda: cn.loss_and_grad(x[:256], w, b, t, loss="xent"))
    for what in ("forward", "backward"):
        rows.append((f"conv {what}, batch 4096", timed[True, what], timed[False, what], "untied"))
    tied = conv(True)
    w = rng.normal(size=tied.n_weights).astype(np.float32)
    dw = rng.normal(size=tied.n_edges).astype(np.float32)
    db = rng.normal(size=tied.n_neurons).astype(np.float32)

    def expand_and_fold():
        ties.expand(w, tied.weight_ties, np.float32)
        ties.fold(dw, tied.weight_ties, tied.n_weights)
        ties.fold(db, tied.bias_ties, tied.n_biases)
    share = median_time(expand_and_fold)
    print(f"expanding w and folding dw, db of the tied conv net alone: {share * 1e3:.3f} ms, "
          f"{100 * share / timed[False, 'backward']:.2f}% of the untied backward at batch 4096")
    torch_step = torch_conv_step(x[:256])
    rows.append(("conv loss_and_grad, batch 256", timed[True, "step"], timed[False, "step"], "untied"))
    if torch_step is not None:
        rows.append(("conv loss_and_grad, batch 256", timed[True, "step"], torch_step, "torch Conv2d"))
    return rows


def torch_conv_step(x):
    try:
        import torch
    except ImportError:
        return None
    torch.set_num_threads(1)
    model = torch.nn.Sequential(torch.nn.Conv2d(1, 8, 3), torch.nn.ReLU(), torch.nn.Conv2d(8, 16, 3, stride=2),
                                torch.nn.ReLU(), torch.nn.Flatten(), torch.nn.Linear(16 * 12 * 12, 10))
    xt = torch.tensor(x.reshape(-1, 1, 28, 28))
    target = torch.zeros(len(x), dtype=torch.long)

    def step():
        model.zero_grad()
        torch.nn.functional.cross_entropy(model(xt), target, reduction="sum").backward()
    return median_time(step)


def rows_rows(rng):
    cn = jitnet.compile(nets.dense([64, 32, 10], activation="relu"), threads=1)
    S, batch = 256, 256
    W = rng.normal(size=(S, cn.n_weights)).astype(np.float32)
    b = np.zeros(cn.n_biases, np.float32)
    x = rng.normal(size=(batch, 64)).astype(np.float32)
    big = rng.normal(size=(S * batch, 64)).astype(np.float32)
    many = median_time(lambda: cn.forward(x, W, b))
    one_big = median_time(lambda: cn.forward(big, W[0], b))
    loop = median_time(lambda: [cn.forward(x, W[s], b) for s in range(S)])
    return [("64-32-10, S=256 x batch 256", many, one_big, "one batch of 65,536"),
            ("64-32-10, S=256 x batch 256", many, loop, "Python loop of 256 calls")]


def main():
    rng = np.random.default_rng(0)
    rows = conv_rows(rng) + rows_rows(rng)
    print(f"{'case':32s} {'jitnet (ms)':>12s} {'other (ms)':>11s}  {'speed vs other':>14s}  other")
    for case, ours, other, name in rows:
        print(f"{case:32s} {ours * 1e3:12.3f} {other * 1e3:11.3f}  {other / ours:13.2f}x  {name}")


if __name__ == "__main__":
    main()
