"""A pruned torch MLP through jitnet, against torch's dense forward and torch.sparse, in one run.

    python -m pip install -e ".[torch]" && python benchmarks/pruned_torch.py

784-300-100-10 with ReLU, every Linear pruned to 95% sparsity by
`torch.nn.utils.prune.l1_unstructured`, imported with `jitnet.from_torch`;
batch 4096, float32, one thread everywhere, medians of 5. Rows: jitnet's
forward; torch's dense forward of the pruned model (masked weights, zeros
multiplied); torch.sparse (each layer's weight as a CSR tensor, `torch.sparse.mm`).
"""


import numpy as np
import torch
import torch.nn.utils.prune  # noqa: F401  (a submodule torch does not import itself)

import jitnet
from jitnet.bench.suite import median_time


def main():
    torch.set_num_threads(1)
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(784, 300), torch.nn.ReLU(), torch.nn.Linear(300, 100),
                                torch.nn.ReLU(), torch.nn.Linear(100, 10))
    for layer in (model[0], model[2], model[4]):
        torch.nn.utils.prune.l1_unstructured(layer, "weight", amount=0.95)
        torch.nn.utils.prune.remove(layer, "weight")
    net = jitnet.from_torch(model)
    cn = jitnet.compile(net, threads=1)
    x = np.random.default_rng(0).normal(size=(4096, 784)).astype(np.float32)
    xt = torch.tensor(x)
    with torch.no_grad():
        np.testing.assert_allclose(cn.forward(x), model(xt).numpy(), rtol=1e-4, atol=1e-4)
        sparse = [(layer.weight.to_sparse_csr(), layer.bias) for layer in (model[0], model[2], model[4])]

        def sparse_forward():
            h = xt.T
            for k, (w, b) in enumerate(sparse):
                h = torch.sparse.mm(w, h) + b[:, None]
                if k < 2:
                    h = torch.relu(h)
            return h

        ours = median_time(lambda: cn.forward(x))
        dense = median_time(lambda: model(xt))
        csr = median_time(sparse_forward)
    print(f"784-300-100-10 pruned to 95%: {net.n_edges} edges, batch 4096, float32, one thread")
    print(f"{'':24s} {'ms':>8s} {'jitnet speed-up':>16s}")
    for name, seconds in (("jitnet forward", ours), ("torch dense forward", dense), ("torch.sparse (CSR)", csr)):
        print(f"{name:24s} {seconds * 1e3:8.3f} {seconds / ours:15.2f}x")


if __name__ == "__main__":
    main()
