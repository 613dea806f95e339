"""Import a neat-python feed-forward genome: (genome, neat.Config) -> `Net` (SPEC §8).

The net is what `neat.nn.FeedForwardNetwork.create(genome, config)` evaluates,
read from its `node_evals`, so whatever the installed neat (0.92 or 2.x)
decides about pruning, orphans and order is what the import follows. Each
node is `act(bias + response * agg(v_i * w_i))`; the response, the 1/count
of `mean` and each activation's input scale fold into the weights and bias,
and softplus's output scale 0.2 into the weights leaving the node (or an
extra identity neuron when the node is an output). Functions are recognised
by identity with neat's own objects: a function of the same name that is not
neat's is a custom function, with no exact form.
"""

from typing import Any, Dict, List, Tuple

import numpy as np

from ..activations import activation_code
from ..net import Net
from .fold import build_net

# neat.activations attribute -> (jitnet name, scale a of the pre-activation, scale of the value).
# NOTE: gauss is exp(-5 z^2) = e^(-x^2/2) at x = sqrt(10) z; softplus is
# 0.2 log(1 + e^(5z)), so softplus(5z) scaled by 0.2 where it is read.
_ACTIVATIONS = {
    "sigmoid_activation": ("sigmoid", 5.0, 1.0),
    "tanh_activation": ("tanh", 2.5, 1.0),
    "sin_activation": ("sin", 5.0, 1.0),
    "gauss_activation": ("gauss", float(np.sqrt(10.0)), 1.0),
    "softplus_activation": ("softplus", 5.0, 0.2),
    "relu_activation": ("relu", 1.0, 1.0),
    "elu_activation": ("elu", 1.0, 1.0),
    "identity_activation": ("identity", 1.0, 1.0),
    "abs_activation": ("abs", 1.0, 1.0),
    "square_activation": ("square", 1.0, 1.0),
    "clamped_activation": ("clamped", 1.0, 1.0),
    "hat_activation": ("hat", 1.0, 1.0),
    "cube_activation": ("cube", 1.0, 1.0),
    "exp_activation": ("exp", 1.0, 1.0),
    "selu_activation": ("selu", 1.0, 1.0),
}
_INEXACT = {"lelu_activation": "lelu (slope 0.005)", "inv_activation": "inv", "log_activation": "log"}
_AGGREGATIONS = ("sum_aggregation", "mean_aggregation")


def from_neat(genome: Any, config: Any) -> Net:
    """The `Net` that neat-python's `FeedForwardNetwork` of `genome` evaluates, with weights.

    Neurons: `config.genome_config.input_keys` in order, then the nodes of
    `node_evals` in order (less folded constants), then an identity neuron per
    softplus output; outputs: `output_keys` in order.

        >>> import jitnet                                        # doctest: +SKIP
        >>> net = jitnet.from_neat(genome, config)               # doctest: +SKIP
        >>> y = jitnet.compile(net, dtype="float64").forward(x)  # doctest: +SKIP

    Raises:
        ValueError: naming the node, for lelu, inv, log, an aggregation other
            than sum or mean, or a function that is not neat's own.
    """
    import neat  # NOTE: optional dependency, loaded only when the importer is used (SPEC §8).

    activations = {getattr(neat.activations, attr): spec for attr, spec in _ACTIVATIONS.items()
                   if hasattr(neat.activations, attr)}
    inexact = {getattr(neat.activations, attr): name for attr, name in _INEXACT.items()
               if hasattr(neat.activations, attr)}
    aggregations = {getattr(neat.aggregations, attr): attr.split("_")[0] for attr in _AGGREGATIONS
                    if hasattr(neat.aggregations, attr)}

    phenotype = neat.nn.FeedForwardNetwork.create(genome, config)
    input_keys = list(config.genome_config.input_keys)
    output_keys = list(config.genome_config.output_keys)
    index: Dict[Any, int] = {key: i for i, key in enumerate(input_keys)}
    read_scale: Dict[int, float] = {}
    codes: List[int] = [0] * len(input_keys)
    biases: List[float] = [0.0] * len(input_keys)
    src: List[int] = []
    dst: List[int] = []
    weights: List[float] = []

    for node, act, agg, bias, response, links in phenotype.node_evals:
        name, scale, value_scale = _activation_spec(node, act, activations, inexact)
        aggregation = aggregations.get(agg)
        if aggregation is None:
            raise ValueError(f"neat node {node}: aggregation {_name(agg)} has no exact form in jitnet "
                             f"(supported: neat's own sum and mean)")
        j = len(codes)
        factor = scale * float(response)
        if aggregation == "mean" and links:
            factor /= len(links)
        for i, w in links:
            # NOTE: a source neat has not evaluated (an orphan output) reads as
            # its initial value 0.0 in `activate`, so the link adds nothing.
            if i in index:
                src.append(index[i])
                dst.append(j)
                weights.append(float(w) * factor * read_scale.get(index[i], 1.0))
        codes.append(activation_code(name))
        biases.append(scale * float(bias))
        index[node] = j
        if value_scale != 1.0:
            read_scale[j] = value_scale

    outputs = []
    for key in output_keys:
        if key not in index:
            # NOTE: an output neat does not evaluate (0.92 leaves orphans) keeps its value 0.0.
            index[key] = len(codes)
            codes.append(0)
            biases.append(0.0)
        outputs.append(index[key])
    affine: List[Any] = [(read_scale[k], 0.0) if k in read_scale else None for k in outputs]
    return build_net(len(input_keys), codes, biases, src, dst, weights, outputs,
                     output_affine=affine if any(affine) else None, source="neat genome")


def _activation_spec(node, act, activations, inexact) -> Tuple[str, float, float]:
    if act in activations:
        return activations[act]
    if act in inexact:
        raise ValueError(f"neat node {node}: activation {inexact[act]} has no exact form in jitnet")
    raise ValueError(f"neat node {node}: activation {_name(act)} is not one of neat's own functions "
                     f"(a custom function has no exact form in jitnet)")


def _name(function) -> str:
    return repr(getattr(function, "__name__", function))
