"""What every importer shares: a draft of units -> a checked `Net` with weights and explicit outputs (SPEC §8).

An importer describes the source model as a draft: the inputs, then the
computed units in the source's order (each with an activation code and a
bias), the weighted edges between them, and the readout list. `build_net`
then applies the rules SPEC §8 gives every importer, so that they cannot
drift apart:

- a weight equal to 0 is no edge;
- an output that needs a scale or shift reads through one extra identity
  neuron, numbered after every computed unit, in output order;
- a unit left with no in-edge is the constant `f(b)`: folded into the biases
  of the units it feeds (which may become constant in turn) and removed,
  except an output, which keeps one zero-weight edge from input 0 so that it
  stays a computed neuron of the same value;
- the survivors are renumbered in order and built into a `Net` whose
  `outputs` are the readout list.
"""

from typing import Optional, Sequence

import numpy as np
from numpy.typing import ArrayLike

from ..activations import activation
from ..net import Net


def build_net(n_inputs: int, codes: ArrayLike, biases: ArrayLike, src: ArrayLike, dst: ArrayLike,
              weights: ArrayLike, outputs: ArrayLike, output_affine: Optional[Sequence[Optional[tuple]]] = None,
              source: str = "model") -> Net:
    """Fold constants and build the imported `Net`.

    Args:
        n_inputs: neurons 0..n_inputs-1 are the inputs.
        codes, biases: one per neuron of the draft (inputs included, their
            entries ignored); the computed units are in topological order.
        src, dst, weights: the draft's edges, each with `src < dst`.
        outputs: the readout list, draft indices.
        output_affine: per entry of `outputs`, None or `(scale, shift)`: the
            value read is `scale * n + shift`, through an extra identity neuron.
        source: what the error messages call the model.

    Raises:
        ValueError: a constant output in a model without inputs (it has no
            input 0 to hang its edge on).
    """
    draft = (np.asarray(codes, dtype=np.int64).copy(), np.asarray(biases, dtype=np.float64).copy(),
             np.asarray(src, dtype=np.int64), np.asarray(dst, dtype=np.int64),
             np.asarray(weights, dtype=np.float64), [int(k) for k in np.asarray(outputs).ravel()])
    if output_affine is not None:
        draft = _extra_output_neurons(*draft, output_affine)
    return _folded_net(n_inputs, *draft, source)


def _folded_net(n_inputs, codes, biases, src, dst, weights, outputs, source):
    assert codes.shape == biases.shape and src.shape == dst.shape == weights.shape
    assert np.all(src < dst) and np.all(dst >= n_inputs)
    keep = weights != 0.0
    src, dst, weights = src[keep], dst[keep], weights[keep]

    is_output = np.zeros(len(codes), dtype=bool)
    is_output[outputs] = True
    alive, src, dst, weights, biases = _fold_constants(n_inputs, codes, biases, src, dst, weights)
    constant_outputs = np.flatnonzero(is_output & ~alive & (np.arange(len(codes)) >= n_inputs))
    if constant_outputs.size and n_inputs == 0:
        raise ValueError(f"{source} has no inputs, so its constant output cannot be a computed neuron")
    alive |= is_output
    alive[:n_inputs] = True

    new_index = np.cumsum(alive) - 1
    zero_src = np.zeros(len(constant_outputs), dtype=np.int64)
    edges = np.stack([np.concatenate([new_index[src], zero_src]),
                      np.concatenate([new_index[dst], new_index[constant_outputs]])], axis=1)
    weights = np.concatenate([weights, np.zeros(len(constant_outputs))])
    kept_codes = codes[alive]
    kept_biases = biases[alive]
    kept_biases[:n_inputs] = 0.0
    return Net(int(alive.sum()), edges, activations=kept_codes, weights=weights, biases=kept_biases,
               outputs=new_index[outputs])


def _extra_output_neurons(codes, biases, src, dst, weights, outputs, output_affine):
    """Append one identity neuron per output read as `scale * n + shift`, in output order."""
    assert len(output_affine) == len(outputs)
    n = len(codes)
    readers = [k for k, affine in zip(outputs, output_affine) if affine is not None]
    affines = [affine for affine in output_affine if affine is not None]
    extra = np.arange(n, n + len(readers), dtype=np.int64)
    new_outputs, m = [], 0
    for k, affine in zip(outputs, output_affine):
        new_outputs.append(k if affine is None else int(extra[m]))
        m += affine is not None
    return (np.concatenate([codes, np.zeros(len(extra), dtype=np.int64)]),
            np.concatenate([biases, np.asarray([a[1] for a in affines], dtype=np.float64)]),
            np.concatenate([src, np.asarray(readers, dtype=np.int64)]),
            np.concatenate([dst, extra]),
            np.concatenate([weights, np.asarray([a[0] for a in affines], dtype=np.float64)]),
            new_outputs)


def _fold_constants(n_inputs, codes, biases, src, dst, weights):
    """One pass in topological order: a unit with no in-edge left is constant; fold it forward.

    NOTE: units are numbered topologically (src < dst), so by the time the pass
    reaches a unit every unit feeding it has been decided: a single ascending
    pass reaches the fixed point that "repeat until nothing is constant" asks for.
    """
    n = len(codes)
    fan_in = np.bincount(dst, minlength=n)
    order = np.argsort(src, kind="stable")
    src, dst, weights = src[order], dst[order], weights[order]
    out_ptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(src, minlength=n), out=out_ptr[1:])
    removed = np.zeros(len(src), dtype=bool)
    alive = np.ones(n, dtype=bool)
    for j in range(n_inputs, n):
        if fan_in[j] == 0:
            value = float(activation(int(codes[j])).f(np.array([biases[j]]))[0])
            lo, hi = out_ptr[j], out_ptr[j + 1]
            targets = dst[lo:hi]
            np.add.at(biases, targets, value * weights[lo:hi])
            np.subtract.at(fan_in, targets, 1)
            removed[lo:hi] = True
            alive[j] = False
    keep = ~removed
    return alive, src[keep], dst[keep], weights[keep], biases
