"""The training loop: CompiledNet, arrays -> trained (w, b) and a history (SPEC §7).

Minibatch training as Keras' `fit` does it: one shuffle per epoch from a
single `default_rng(seed)`, a partial last batch kept, one optimizer step per
batch on the batch *mean* of the gradients (`loss_and_grad` returns sums, so
`lr` does not depend on `batch_size`), and per-epoch averages in a history
dict. Every shape is checked before the first step, so a bad target fails at
once rather than after an epoch of work.
"""

import sys
import time
from typing import NamedTuple, Optional

import numpy as np

from .native.checks import real_array
from .optim import Adam

__all__ = ["LOSSES", "train"]

LOSSES = ("mse", "xent")


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
        optimizer: a `jitnet.optim` optimizer; None for `Adam(1e-3)`.
        epochs: passes over the data.
        batch_size: samples per step; the last batch of an epoch may be smaller.
        seed: seeds `cn.init` (when `w` or `b` is not given) and the shuffling.
        validation: an optional pair `(Xv, Yv)`, evaluated after each epoch.
        w, b: starting weights and biases, copied (never changed); None for `cn.init(seed)`'s.
        progress: show a progress bar on stderr; None: only when stderr is a terminal.

    Returns:
        `(w, b, history)`: the trained arrays in the net's dtype and a dict of
        per-epoch lists of floats: `loss` (mean per sample over the epoch's
        batches) and, for "xent", `accuracy`; with `validation`, `val_loss`
        and `val_accuracy` computed with the weights at the end of the epoch.

    Raises:
        ValueError: for a bad shape, class index, loss name, count or `validation`.
        TypeError: for arrays that are not real numbers.
    """
    if loss not in LOSSES:
        raise ValueError(f"loss={loss!r}; expected one of {', '.join(LOSSES)}")
    epochs = _count(epochs, "epochs", 0)
    batch_size = _count(batch_size, "batch_size", 1)
    data = _data(cn, X, Y, loss, "X", "Y")
    held_out = None if validation is None else _data(cn, *_pair(validation), loss, "Xv", "Yv")
    optimizer = Adam(1e-3) if optimizer is None else optimizer
    w, b = _start(cn, w, b, seed)
    show_bar = sys.stderr.isatty() if progress is None else progress
    bar = _ProgressBar(epochs) if show_bar else None

    rng = np.random.default_rng(seed)
    history = {key: [] for key in _history_keys(loss, held_out is not None)}
    for epoch in range(epochs):
        batches = _batches(rng, len(data.x), batch_size)
        mean_loss, accuracy = _epoch(cn, data, w, b, loss, optimizer, batches, bar, epoch)
        history["loss"].append(mean_loss)
        if accuracy is not None:
            history["accuracy"].append(accuracy)
        if held_out is not None:
            val_loss, val_accuracy = _evaluate(cn, held_out, w, b, loss)
            history["val_loss"].append(val_loss)
            if val_accuracy is not None:
                history["val_accuracy"].append(val_accuracy)
    return w, b, history


def _epoch(cn, data: _Data, w, b, loss, optimizer, batches, bar, epoch):
    """One pass over `batches`, stepping `w` and `b` in place; (mean loss, accuracy or None)."""
    loss_sum, correct, seen = 0.0, 0, 0
    for k, batch in enumerate(batches):
        x, targets = data.x[batch], data.targets[batch]
        if data.classes is not None:
            # Accuracy as Keras reports it: each batch judged by the weights it is trained from.
            correct += _correct(cn.forward(x, w, b), data.classes[batch])
        value, dw, db = cn.loss_and_grad(x, w, b, targets, loss=loss)
        optimizer.step([w, b], [dw / len(batch), db / len(batch)])
        loss_sum += value
        seen += len(batch)
        if bar is not None:
            bar.show(epoch, k + 1, len(batches), loss_sum / seen)
    if bar is not None:
        bar.clear()
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
    """`X` and `Y` checked against the net and each other (SPEC §4's target rules)."""
    x = real_array(X, x_name, cn.dtype)
    if x.ndim != 2 or x.shape[1] != cn.n_inputs or len(x) == 0:
        raise ValueError(f"{x_name} has shape {x.shape}; expected (n_samples, {cn.n_inputs}) "
                         f"with at least one sample")
    n, k = len(x), cn.n_outputs
    y = np.asarray(Y)
    if loss == "xent" and y.dtype.kind in "iu":
        classes = _class_indices(y, n, k, y_name)
        return _Data(x, classes, classes)
    y = real_array(y, y_name, cn.dtype)
    if y.shape != (n, k):
        like = f"({n},) class indices or " if loss == "xent" else ""
        raise ValueError(f"{y_name} has shape {y.shape}; expected {like}({n}, {k}), "
                         f"one row of targets per sample of {x_name}")
    return _Data(x, y, np.argmax(y, axis=1) if loss == "xent" else None)


def _class_indices(y: np.ndarray, n: int, k: int, name: str) -> np.ndarray:
    if y.shape != (n,):
        raise ValueError(f"{name} has shape {y.shape}; expected ({n},) class indices "
                         f"(or ({n}, {k}) one-hot floats)")
    bad = np.flatnonzero((y < 0) | (y >= k))
    if bad.size:
        raise ValueError(f"{name}[{bad[0]}] is class {y[bad[0]]}; expected 0 .. {k - 1} (one per output)")
    return y.astype(np.int64)


def _count(value, name: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name}={value!r}; expected an int >= {minimum}")
    return int(value)


class _ProgressBar:
    """One self-erasing line on stderr: epoch, a bar, batch k/n and the running loss."""

    WIDTH = 20
    # NOTE: redrawing at most 10 times a second keeps tiny batches from being terminal-bound.
    INTERVAL = 0.1

    def __init__(self, epochs: int):
        self.epochs = epochs
        self.shown_at = -self.INTERVAL
        self.length = 0

    def show(self, epoch: int, k: int, n: int, running_loss: float) -> None:
        now = time.monotonic()
        if k < n and now - self.shown_at < self.INTERVAL:
            return
        self.shown_at = now
        filled = self.WIDTH * k // n
        line = (f"epoch {epoch + 1}/{self.epochs} [{'#' * filled}{'.' * (self.WIDTH - filled)}] "
                f"{k}/{n} loss {running_loss:.4g}")
        self._write(line.ljust(self.length))
        self.length = len(line)

    def clear(self) -> None:
        self._write(" " * self.length)
        self.length = 0

    @staticmethod
    def _write(text: str) -> None:
        sys.stderr.write("\r" + text + "\r")
        sys.stderr.flush()
