"""The training loop: CompiledNet, arrays -> trained (w, b) and a history (SPEC §7).

Minibatch training as Keras' `fit` does it: one shuffle per epoch from a
single `default_rng(seed)`, a partial last batch kept, one optimizer step per
batch on the batch *mean* of the gradients (`loss_and_grad` returns sums, so
`lr` does not depend on `batch_size`), and per-epoch averages in a history
dict. Every shape is checked before the first step, so a bad target fails at
once rather than after an epoch of work.
"""

import math
import sys
from typing import NamedTuple, Optional

import numpy as np
from tqdm.auto import tqdm

from .losses import LOSSES, check_target
from .native.checks import real_array
from .optim import Adam, Optimizer, by_name

__all__ = ["LOSSES", "train"]


class _Data(NamedTuple):
    """Checked samples: `x` in the net's dtype, `targets` as `loss_and_grad` takes them,
    and `classes` (one int per sample, for accuracy) or None for mse."""

    x: np.ndarray
    targets: np.ndarray
    classes: Optional[np.ndarray]


def train(cn, X, Y, loss="mse", optimizer=None, epochs=10, batch_size=32, seed=0,
          validation=None, w=None, b=None, progress=None):
    """Train `cn`'s weights and biases by minibatch gradient descent.

        >>> import jitnet, numpy as np
        >>> from jitnet.compiler import compile
        >>> cn = compile(jitnet.Net(3, [(0, 2), (1, 2)], activations="sigmoid"))
        >>> X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]])
        >>> w, b, history = train(cn, X, [[1], [1], [1], [0]], epochs=3, batch_size=2)
        >>> len(history["loss"])
        3

    Args:
        cn: a `CompiledNet`.
        X: (n_samples, n_inputs).
        Y: targets. "mse": shaped like the outputs, (n_samples, n_outputs).
            "xent": class indices (ints, shape (n_samples,)), or one-hot or
            probability rows (floats, (n_samples, n_outputs)).
        loss: "mse" (0.5 * sum of squares) or "xent" (softmax cross-entropy).
        optimizer: a `jitnet.optim` optimizer, or one of the CLI's names
            (`jitnet.optim.OPTIMIZERS`: "sgd", "momentum", "rmsprop", "adam") with
            lr 1e-3; None for `Adam(1e-3)`.
        epochs: passes over the data, at least 1.
        batch_size: samples per step; the last batch of an epoch may be smaller.
        seed: seeds `cn.init` (when `w` or `b` is not given) and the shuffling.
        validation: an optional pair `(Xv, Yv)`, evaluated after each epoch.
        w, b: starting weights and biases, copied (never changed); None for `cn.init(seed)`'s.
        progress: show a tqdm progress bar on stderr (one step per epoch, the
            epoch's loss and accuracy in its postfix); None: only when stderr is
            a terminal or the code runs under an IPython kernel (a notebook).

    Returns:
        `(w, b, history)`: the trained arrays in the net's dtype and a dict of
        per-epoch lists of floats: `loss` (mean per sample over the epoch's
        batches) and, for "xent", `accuracy`; with `validation`, `val_loss`
        and `val_accuracy` computed with the weights at the end of the epoch.

    Raises:
        ValueError: for a bad shape, dtype or class index of a target, a loss or
            optimizer name, a count or `validation`.
        TypeError: for arrays that are not real numbers.
        FloatingPointError: when the loss becomes NaN or infinite (the message
            names the epoch and the learning rate, the usual cause).
    """
    if loss not in LOSSES:
        raise ValueError(f"loss={loss!r}; expected one of {', '.join(LOSSES)}")
    epochs = _count(epochs, "epochs", 1)
    batch_size = _count(batch_size, "batch_size", 1)
    data = _data(cn, X, Y, loss, "X", "Y")
    held_out = None if validation is None else _data(cn, *_pair(validation), loss, "Xv", "Yv")
    optimizer = _optimizer(optimizer)
    w, b = _start(cn, w, b, seed)
    shown = _interactive() if progress is None else bool(progress)

    rng = np.random.default_rng(seed)
    history: dict = {key: [] for key in _history_keys(loss, held_out is not None)}
    with tqdm(total=epochs, unit="epoch", desc="train", file=sys.stderr, disable=not shown) as bar:
        for epoch in range(epochs):
            batches = _batches(rng, len(data.x), batch_size)
            mean_loss, accuracy = _epoch(cn, data, w, b, loss, optimizer, batches, epoch)
            history["loss"].append(mean_loss)
            if accuracy is not None:
                history["accuracy"].append(accuracy)
            if held_out is not None:
                val_loss, val_accuracy = _evaluate(cn, held_out, w, b, loss)
                history["val_loss"].append(val_loss)
                if val_accuracy is not None:
                    history["val_accuracy"].append(val_accuracy)
            bar.set_postfix({key: f"{values[-1]:.4g}" for key, values in history.items()}, refresh=False)
            bar.update(1)
    return w, b, history


def _optimizer(optimizer) -> Optimizer:
    """An optimizer object from None (Adam(1e-3)), a name (`optim.by_name`) or an Optimizer."""
    if optimizer is None:
        return Adam(1e-3)
    if isinstance(optimizer, str):
        return by_name(optimizer)
    return optimizer


def _interactive() -> bool:
    """SPEC §11: the bar shows by default on a terminal's stderr or under an IPython kernel."""
    if sys.stderr is not None and sys.stderr.isatty():
        return True
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None and hasattr(ipython, "get_ipython") else None
    return shell is not None and hasattr(shell, "kernel")


def _epoch(cn, data: _Data, w, b, loss, optimizer, batches, epoch):
    """One pass over `batches`, stepping `w` and `b` in place; (mean loss, accuracy or None).

    A NaN or infinite batch loss stops training at once: every later step would only spread it.
    """
    loss_sum, correct, seen = 0.0, 0, 0
    for k, batch in enumerate(batches):
        x, targets = data.x[batch], data.targets[batch]
        if data.classes is not None:
            # Accuracy as Keras reports it: each batch judged by the weights it is trained from.
            correct += _correct(cn.forward(x, w, b), data.classes[batch])
        value, dw, db = cn.loss_and_grad(x, w, b, targets, loss=loss)
        if not math.isfinite(value):
            lr = getattr(optimizer, "lr", None)
            rate = f"lr={lr:g}" if isinstance(lr, float) else "lr"
            raise FloatingPointError(
                f"the loss became {value} in epoch {epoch + 1} (batch {k + 1} of {len(batches)}); "
                f"the learning rate ({rate}) is the likely cause: try a smaller one")
        optimizer.step([w, b], [dw / len(batch), db / len(batch)])
        loss_sum += value
        seen += len(batch)
    accuracy = None if data.classes is None else correct / seen
    return loss_sum / seen, accuracy


def _evaluate(cn, data: _Data, w, b, loss):
    """(mean loss per sample, accuracy or None) of the whole of `data` at `w`, `b`."""
    n = len(data.x)
    # The loss comes from loss_and_grad (its gradient unused) so that its formula lives in one place.
    value = cn.loss_and_grad(data.x, w, b, data.targets, loss=loss)[0]
    if data.classes is None:
        return value / n, None
    return value / n, _correct(cn.forward(data.x, w, b), data.classes) / n


def _correct(y: np.ndarray, classes: np.ndarray) -> int:
    """How many rows of outputs `y` have their largest entry at the sample's class."""
    return int(np.count_nonzero(np.argmax(y, axis=1) == classes))


def _batches(rng: np.random.Generator, n: int, batch_size: int):
    """This epoch's shuffled sample indices, cut into batches (the last one may be short)."""
    order = rng.permutation(n)
    return [order[start:start + batch_size] for start in range(0, n, batch_size)]


def _history_keys(loss: str, validated: bool):
    keys = ["loss", "accuracy"] if loss == "xent" else ["loss"]
    return keys + ["val_" + key for key in keys] if validated else keys


def _start(cn, w, b, seed):
    """Copies of the given `w` and `b` in the net's dtype, or `cn.init(seed)`'s for the missing ones."""
    w0, b0 = cn.init(seed)
    return _copy(w, w0, "w"), _copy(b, b0, "b")


def _copy(value, default: np.ndarray, name: str) -> np.ndarray:
    if value is None:
        return default
    a = real_array(value, name, default.dtype)
    if a.shape != default.shape:
        raise ValueError(f"{name} has shape {a.shape}; expected {default.shape}")
    return a.copy()


def _pair(validation):
    if not isinstance(validation, (tuple, list)) or len(validation) != 2:
        raise ValueError("validation must be a pair (Xv, Yv)")
    return validation


def _data(cn, X, Y, loss: str, x_name: str, y_name: str) -> _Data:
    """`X` and `Y` checked against the net and each other (SPEC §4's target rules, `losses.check_target`)."""
    x = real_array(X, x_name, cn.dtype)
    if x.ndim != 2 or x.shape[1] != cn.n_inputs or len(x) == 0:
        raise ValueError(f"{x_name} has shape {x.shape}; expected (n_samples, {cn.n_inputs}) "
                         f"with at least one sample")
    t = check_target(loss, Y, len(x), cn.n_outputs, False, y_name)
    if t.ndim == 1:
        return _Data(x, t, t)
    return _Data(x, t.astype(cn.dtype), np.argmax(t, axis=1) if loss == "xent" else None)


def _count(value, name: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name}={value!r}; expected an int >= {minimum}")
    return int(value)
