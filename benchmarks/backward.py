"""Backward-pass benchmark: jitnet's VJP against hand-written numpy backprop and torch autograd.

A script, not a test: `python benchmarks/backward.py [--batch B]` prints, for
784-128-128-10 and random sparse DAGs of ~1e4 and ~1e5 edges (relu hidden
neurons, identity outputs), at batch 4096, float32, one thread:
jitnet's forward time, its backward time (`backward` runs its own forward,
so it is compared with a framework's forward + backward), the ratio of the
two, and the forward + backward times of numpy and torch (when installed).

The baselines evaluate the net level by level (neurons of one depth at once)
with dense weight matrices, zero-masked where the net has no edge: for a dense
layered net that is ordinary per-layer backprop.
"""

import argparse
import os
import sys
from pathlib import Path

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout

from jitnet import compile, nets  # noqa: E402
from jitnet.bench import median_time  # noqa: E402


def levels(net, w):
    """Per depth level: (level neurons, source neurons, dense masked weight matrix)."""
    out = []
    order, depth = net.level_order, net.depth[net.level_order]
    for d in range(1, int(depth.max()) + 1):
        level = order[depth == d]
        edges = np.concatenate([np.arange(net.in_ptr[j], net.in_ptr[j + 1]) for j in level])
        src, dst = net.edges[edges, 0], net.edges[edges, 1]
        rows = np.unique(src)
        matrix = np.zeros((len(rows), len(level)), dtype=np.float32)
        matrix[np.searchsorted(rows, src), np.searchsorted(level, dst)] = w[edges]
        out.append((_span(level), _span(rows), matrix))
    return out


def _span(index):
    """A slice for a contiguous run of neurons (a view, no gather), else the index array."""
    return slice(index[0], index[-1] + 1) if index[-1] - index[0] + 1 == len(index) else index


def numpy_step(net, lv, x, dy):
    """Forward + backward with numpy: dW per level and dx (relu hidden, identity outputs)."""
    n = np.zeros((len(x), net.n_neurons), dtype=np.float32)
    n[:, net.inputs] = x
    zs = []
    for k, (level, rows, matrix) in enumerate(lv):
        z = np.ascontiguousarray(n[:, rows]) @ matrix
        zs.append(z)
        n[:, level] = z if k == len(lv) - 1 else np.maximum(z, 0)
    dn = np.zeros_like(n)
    dn[:, net.outputs] = dy
    grads = []
    for k in range(len(lv) - 1, -1, -1):
        level, rows, matrix = lv[k]
        dz = dn[:, level] if k == len(lv) - 1 else dn[:, level] * (zs[k] > 0)
        grads.append(np.ascontiguousarray(n[:, rows]).T @ dz)
        dn[:, rows] += dz @ matrix.T
    return dn[:, net.inputs], grads


def torch_step(torch, net, lv, x, dy):
    """Forward + autograd backward with torch on the same masked dense levels."""
    weights = [torch.tensor(m, requires_grad=True) for _, _, m in lv]
    xt = torch.tensor(np.array(x), requires_grad=True)
    values = torch.zeros((len(x), net.n_neurons))
    values = values.index_copy(1, torch.as_tensor(np.array(net.inputs)), xt)
    for k, ((level, rows, _), weight) in enumerate(zip(lv, weights)):
        z = values[:, _torch_index(torch, rows)] @ weight
        values = values.index_copy(1, torch.as_tensor(_indices(level)), z if k == len(lv) - 1 else torch.relu(z))
    y = values[:, torch.as_tensor(np.array(net.outputs))]
    y.backward(torch.as_tensor(dy))
    return xt.grad, [wt.grad for wt in weights]


def _indices(span):
    return np.arange(span.start, span.stop) if isinstance(span, slice) else span


def _torch_index(torch, span):
    return span if isinstance(span, slice) else torch.as_tensor(span)


def suite():
    yield "784-128-128-10", nets.dense([784, 128, 128, 10])
    for hidden, label in ((240, "1e4"), (2490, "1e5")):
        yield f"random DAG {label}", nets.random_dag(64, 10, hidden, fan_in=(16, 64), n_layers=6, seed=0)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=4096)
    args = parser.parse_args()
    try:
        import torch
        torch.set_num_threads(1)
    except ImportError:
        torch = None
    head = ("net", "edges", "fwd ms", "bwd ms", "bwd/fwd", "numpy f+b ms", "x numpy",
            "torch f+b ms", "x torch")
    print("  ".join(head))
    for name, net in suite():
        cn = compile(net, threads=1)
        w, b = cn.init(seed=0)
        rng = np.random.default_rng(0)
        x = rng.normal(size=(args.batch, net.n_inputs)).astype(np.float32)
        dy = rng.normal(size=(args.batch, net.n_outputs)).astype(np.float32)
        fwd = median_time(lambda: cn.forward(x, w, b))
        bwd = median_time(lambda: cn.backward(x, w, b, dy))
        lv = levels(net, w)
        # NOTE: the baselines must compute the same thing: compare dx once.
        np.testing.assert_allclose(numpy_step(net, lv, x[:64], dy[:64])[0],
                                   cn.backward(x[:64], w, b, dy[:64]).dx, rtol=1e-3, atol=1e-4)
        ref = median_time(lambda: numpy_step(net, lv, x, dy), repeats=3)
        row = [name, str(net.n_weights), f"{fwd * 1e3:.2f}", f"{bwd * 1e3:.2f}", f"{bwd / fwd:.2f}",
               f"{ref * 1e3:.2f}", f"{ref / bwd:.2f}"]
        if torch is not None:
            tt = median_time(lambda: torch_step(torch, net, lv, x, dy), repeats=3)
            row += [f"{tt * 1e3:.2f}", f"{tt / bwd:.2f}"]
        else:
            row += ["-", "-"]
        print("  ".join(row), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
