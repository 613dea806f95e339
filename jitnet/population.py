"""Whole populations in one call: P nets with weights -> `Population` (SPEC §8).

A neuroevolution generation is P small nets evaluated on the same samples.
They are compiled as one net: the members side by side, each with its own
copy of the inputs, so one native call walks every member's edges tile by
tile. The CSR tier's code depends only on the dtype and the activation codes,
never on the topology, so a new generation whose codes were compiled before
(in this process or in the on-disk cache) costs no LLVM compile: building it
is numpy work on the members' arrays. Each member's neurons keep their sum
order (SPEC §1), so its slice is bit-identical to compiling it alone.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from .compiler import compile
from .net import Net
from .ties import expand


class Population:
    """Nets of one shape compiled together; see `jitnet.compile_population`.

    `forward(x)` gives `(P, batch, n_outputs)` (or `(P, n_outputs)` for a 1-D
    `x`): member p's slice is `compile(nets[p], dtype=pop.dtype).forward(x)`,
    bit for bit.
    """

    def __init__(self, nets: Sequence[Net], dtype: str = "float32", threads: int | None = None,
                 cache: bool = True):
        self.nets = tuple(_checked(nets))
        self._threads, self._cache = threads, cache
        self._union = compile(_side_by_side(self.nets), dtype=dtype, strategy="csr", threads=threads,
                              cache=cache)
        self.dtype = self._union.dtype
        self.n_inputs = self.nets[0].n_inputs
        self.n_outputs = self.nets[0].n_outputs

    def __len__(self) -> int:
        return len(self.nets)

    def __reduce__(self):
        return (Population, (self.nets, self.dtype.name, self._threads, self._cache))

    def forward(self, x: Any) -> np.ndarray:
        """Every member's outputs for `x` of shape (n_inputs,) or (batch, n_inputs)."""
        x = np.asarray(x)
        if x.dtype.kind not in "biuf":
            raise TypeError(f"x must be a real numeric array, got dtype {x.dtype}")
        single = x.ndim == 1
        if not (single and x.shape == (self.n_inputs,)) and not (x.ndim == 2 and x.shape[1] == self.n_inputs):
            raise ValueError(f"x has shape {x.shape}; expected ({self.n_inputs},) or (batch, {self.n_inputs})")
        samples = x.reshape(-1, self.n_inputs)
        # NOTE: every member reads its own copy of the inputs, in member order.
        y = self._union.forward(np.tile(samples.astype(self.dtype, copy=False), (1, len(self))))
        y = np.ascontiguousarray(y.reshape(len(samples), len(self), self.n_outputs).transpose(1, 0, 2))
        return y[:, 0] if single else y


def compile_population(nets: Sequence[Net], dtype: str = "float32", threads: int | None = None,
                       cache: bool = True) -> Population:
    """Compile nets that carry weights and share `n_inputs` and `n_outputs`, for one call each generation.

    Example:
        >>> import jitnet, numpy as np
        >>> a = jitnet.Net(3, [(0, 2), (1, 2)], weights=[1.0, 2.0])
        >>> b = jitnet.Net(3, [(0, 2), (1, 2)], weights=[-1.0, 0.5])
        >>> jitnet.compile_population([a, b], dtype="float64").forward([1.0, 1.0]).tolist()
        [[3.0], [-0.5]]
    """
    return Population(nets, dtype=dtype, threads=threads, cache=cache)


def _checked(nets: Sequence[Net]) -> list[Net]:
    members = list(nets)
    if not members:
        raise ValueError("compile_population needs at least one net, got an empty list")
    first = members[0]
    for p, net in enumerate(members):
        if not isinstance(net, Net):
            raise TypeError(f"nets[{p}] is a {type(net).__name__}; expected a jitnet.Net")
        if net.weights is None:
            raise ValueError(f"nets[{p}] carries no weights; a population evaluates trained nets "
                             "(use net.with_weights(w, b))")
        if (net.n_inputs, net.n_outputs) != (first.n_inputs, first.n_outputs):
            raise ValueError(f"nets[{p}] has {net.n_inputs} inputs and {net.n_outputs} outputs; "
                             f"expected {first.n_inputs} and {first.n_outputs}, as nets[0]")
    return members


def _side_by_side(nets: Sequence[Net]) -> Net:
    """One net holding every member, member p's neurons shifted past the members before it.

    NOTE: shifting keeps each member's canonical order, and the members come
    in order, so the concatenated edges are already canonical.
    """
    sizes = np.array([net.n_neurons for net in nets], dtype=np.int64)
    offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    counts = np.array([net.n_edges for net in nets], dtype=np.int64)
    edges = np.concatenate([net.edges for net in nets]) + np.repeat(offsets, counts)[:, None]
    # NOTE: members may be tied; the population itself is not (each member's parameters per edge).
    biases = [expand(net.biases, net.bias_ties) if net.biases is not None else np.zeros(net.n_neurons)
              for net in nets]
    outputs = np.concatenate([net.outputs + offset for net, offset in zip(nets, offsets)])
    return Net(int(sizes.sum()), edges, np.concatenate([net.activations for net in nets]),
               weights=np.concatenate([expand(net.weights, net.weight_ties) for net in nets]),
               biases=np.concatenate(biases), outputs=outputs)


def evaluate_neat(genomes: Sequence[Any], config: Any, x: Any, dtype: str = "float64",
                  threads: int | None = None) -> np.ndarray:
    """neat-python genomes on samples `x` in one call: `(P, batch, n_outputs)` (SPEC §8).

    `genomes` as neat passes them to a fitness function, `[(key, genome), ...]`
    (bare genomes are accepted too). Each genome is converted with
    `jitnet.from_neat`; the population is compiled without an LLVM compile
    once its activation codes have been compiled before.
    """
    from .importers.neat import from_neat

    members = [from_neat(g[1] if isinstance(g, tuple) else g, config) for g in genomes]
    return compile_population(members, dtype=dtype, threads=threads).forward(x)
