"""The training loop (SPEC §7): batches, mean gradients, history, copies, checks, progress, XOR."""

import importlib.util
import io
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from jitnet import nets
from jitnet.compiler import compile
from jitnet.optim import OPTIMIZERS, SGD, Adam, RMSprop
from jitnet.train import train

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def cn():
    """A 3-4-3 tanh net, float64 so that comparisons can be tight."""
    return compile(nets.dense([3, 4, 3], activation="tanh"), dtype="float64", cache=False)


def _data(n, seed=0, n_classes=3):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 3))
    return x, rng.integers(0, n_classes, size=n)


class _Recorder:
    """Wraps `cn.loss_and_grad` to record each batch's x."""

    def __init__(self, cn, monkeypatch):
        self.batches = []
        self.inner = cn.loss_and_grad
        monkeypatch.setattr(cn, "loss_and_grad", self)

    def __call__(self, x, w, b, target, loss="mse"):
        self.batches.append(np.array(x))
        return self.inner(x, w, b, target, loss=loss)


def test_returns_arrays_and_per_epoch_history(cn):
    x, classes = _data(20)
    w, b, history = train(cn, x, np.eye(3)[classes], epochs=3, batch_size=8)
    assert w.shape == (cn.n_weights,) and b.shape == (cn.n_neurons,)
    assert w.dtype == b.dtype == cn.dtype
    assert list(history) == ["loss"]
    assert len(history["loss"]) == 3 and all(isinstance(v, float) for v in history["loss"])

    xv, cv = _data(7, seed=1)
    _, _, history = train(cn, x, classes, loss="xent", epochs=2, validation=(xv, cv))
    assert sorted(history) == ["accuracy", "loss", "val_accuracy", "val_loss"]
    assert all(len(v) == 2 for v in history.values())


def test_every_epoch_sees_every_sample_once_in_batches_with_a_short_last(cn, monkeypatch):
    x, classes = _data(10)
    x[:, 0] = np.arange(10)  # tag each sample by its row
    recorder = _Recorder(cn, monkeypatch)
    train(cn, x, classes, loss="xent", epochs=3, batch_size=4, optimizer=SGD(0.01))
    assert [len(bx) for bx in recorder.batches] == [4, 4, 2] * 3
    epochs = [np.concatenate(recorder.batches[k:k + 3])[:, 0] for k in (0, 3, 6)]
    for seen in epochs:
        assert sorted(seen) == list(range(10))
    assert not np.array_equal(epochs[0], epochs[1]), "each epoch reshuffles"


def test_shuffling_follows_one_default_rng_of_the_seed(cn, monkeypatch):
    x, classes = _data(10)
    x[:, 0] = np.arange(10)
    recorder = _Recorder(cn, monkeypatch)
    train(cn, x, classes, loss="xent", epochs=2, batch_size=10, seed=5)
    rng = np.random.default_rng(5)
    for batch in recorder.batches:
        np.testing.assert_array_equal(batch[:, 0], rng.permutation(10))


def test_same_seed_same_result_other_seed_other_result(cn):
    x, classes = _data(30)
    runs = [train(cn, x, classes, loss="xent", epochs=2, batch_size=7, seed=s) for s in (3, 3, 4)]
    (w1, b1, h1), (w2, b2, h2), (w3, _, _) = runs
    np.testing.assert_array_equal(w1, w2)
    np.testing.assert_array_equal(b1, b2)
    assert h1 == h2
    assert not np.array_equal(w1, w3)


def test_starts_from_init_of_the_seed_or_from_copies_of_w_and_b(cn):
    x, classes = _data(12)
    w0, b0 = cn.init(seed=9)
    w_init, b_init = train(cn, x, classes, loss="xent", epochs=1, seed=9, optimizer=SGD(0.0))[:2]
    np.testing.assert_array_equal(w_init, w0)
    np.testing.assert_array_equal(b_init, b0)

    w_given, b_given = w0 + 0.5, b0 - 0.25
    w_keep, b_keep = w_given.copy(), b_given.copy()
    w, b, _ = train(cn, x, classes, loss="xent", epochs=1, w=w_given, b=b_given)
    np.testing.assert_array_equal(w_given, w_keep)
    np.testing.assert_array_equal(b_given, b_keep)
    assert not np.shares_memory(w, w_given) and not np.array_equal(w, w_keep)

    w, _, _ = train(cn, x, classes, loss="xent", epochs=1, w=list(w_keep), optimizer=SGD(0.0))
    np.testing.assert_array_equal(w, w_keep)


def test_a_full_batch_epoch_is_one_step_on_the_mean_gradient(cn):
    x, _ = _data(9)
    y = np.random.default_rng(2).normal(size=(9, 3))
    w0, b0 = cn.init(seed=0)
    w, b, history = train(cn, x, y, epochs=1, batch_size=9, optimizer=SGD(0.5), w=w0, b=b0)
    loss, dw, db = cn.loss_and_grad(x, w0, b0, y)
    np.testing.assert_allclose(w, w0 - 0.5 * dw / 9, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(b, b0 - 0.5 * db / 9, rtol=1e-12, atol=1e-15)
    assert history["loss"] == [pytest.approx(loss / 9, rel=1e-12)]


def test_the_step_does_not_depend_on_the_batch_size(cn):
    # The same samples twice over in one batch: the mean gradient, and so the step, is unchanged.
    x, _ = _data(9)
    y = np.random.default_rng(2).normal(size=(9, 3))
    once = train(cn, x, y, epochs=1, batch_size=9, optimizer=SGD(0.5))
    twice = train(cn, np.tile(x, (2, 1)), np.tile(y, (2, 1)), epochs=1, batch_size=18, optimizer=SGD(0.5))
    np.testing.assert_allclose(twice[0], once[0], rtol=1e-12)
    np.testing.assert_allclose(twice[2]["loss"], once[2]["loss"], rtol=1e-12)


def test_loss_is_the_mean_per_sample_and_validation_its_twin(cn):
    # lr = 0 freezes the weights, so the running training loss and accuracy
    # must equal the validation ones on the same data.
    x, classes = _data(25)
    w, b, history = train(cn, x, classes, loss="xent", epochs=2, batch_size=6, optimizer=SGD(0.0),
                          validation=(x, classes))
    loss, _, _ = cn.loss_and_grad(x, w, b, classes, loss="xent")
    accuracy = np.mean(np.argmax(cn.forward(x, w, b), axis=1) == classes)
    np.testing.assert_allclose(history["loss"], [loss / 25] * 2, rtol=1e-12)
    np.testing.assert_allclose(history["val_loss"], [loss / 25] * 2, rtol=1e-12)
    assert history["accuracy"] == history["val_accuracy"] == [accuracy] * 2
    assert 0 < accuracy < 1


def test_validation_is_measured_at_the_end_of_each_epoch(cn):
    x, classes = _data(40)
    xv, cv = _data(15, seed=1)
    _, _, history = train(cn, x, classes, loss="xent", epochs=3, optimizer=Adam(0.05),
                          validation=(xv, cv))
    for epochs in (1, 2, 3):
        w, b, _ = train(cn, x, classes, loss="xent", epochs=epochs, optimizer=Adam(0.05))
        loss, _, _ = cn.loss_and_grad(xv, w, b, cv, loss="xent")
        assert history["val_loss"][epochs - 1] == pytest.approx(loss / 15, rel=1e-12)
        accuracy = np.mean(np.argmax(cn.forward(xv, w, b), axis=1) == cv)
        assert history["val_accuracy"][epochs - 1] == accuracy
    assert history["val_loss"][0] != history["val_loss"][2]


def test_one_hot_targets_train_like_class_indices(cn):
    x, classes = _data(20)
    by_index = train(cn, x, classes, loss="xent", epochs=2, batch_size=8)
    by_one_hot = train(cn, x, np.eye(3)[classes], loss="xent", epochs=2, batch_size=8)
    np.testing.assert_allclose(by_one_hot[0], by_index[0], rtol=1e-9)
    assert by_one_hot[2]["accuracy"] == by_index[2]["accuracy"]


def test_default_optimizer_is_adam_1e_3(cn):
    x, _ = _data(8)
    y = np.zeros((8, 3))
    w, _, _ = train(cn, x, y, epochs=2, batch_size=4)
    w_adam, _, _ = train(cn, x, y, epochs=2, batch_size=4, optimizer=Adam(1e-3))
    np.testing.assert_array_equal(w, w_adam)


@pytest.mark.parametrize("kwargs, message", [
    (dict(X=np.zeros((4, 2))), r"X has shape \(4, 2\); expected \(n_samples, 3\)"),
    (dict(X=np.zeros(3)), r"X has shape \(3,\); expected \(n_samples, 3\)"),
    (dict(X=np.zeros((0, 3)), Y=np.zeros((0, 3))), "at least one sample"),
    (dict(Y=np.zeros((5, 3))), r"Y has shape \(5, 3\); expected \(4, 3\)"),
    (dict(Y=np.zeros(4)), r"Y has shape \(4,\); expected \(4, 3\)"),
    (dict(Y=np.array([0, 1, 3, 2]), loss="xent"), r"Y\[2\] is class 3; expected 0 .. 2"),
    (dict(Y=np.array([[0], [1], [2], [1]]), loss="xent"), r"expected \(4,\) integer class indices"),
    (dict(loss="hinge"), "loss='hinge'; expected one of mse, xent"),
    (dict(batch_size=0), "batch_size=0; expected an int >= 1"),
    (dict(epochs=-1), "epochs=-1"),
    (dict(validation=np.zeros((2, 3))), r"validation must be a pair \(Xv, Yv\)"),
    (dict(validation=(np.zeros((2, 3)), np.zeros((3, 3)))), r"Yv has shape \(3, 3\); expected \(2, 3\)"),
    (dict(w=np.zeros(5)), r"w has shape \(5,\); expected \(24,\)"),
])
def test_bad_arguments_fail_before_training(cn, monkeypatch, kwargs, message):
    recorder = _Recorder(cn, monkeypatch)
    args = dict(X=np.zeros((4, 3)), Y=np.zeros((4, 3)))
    args.update(kwargs)
    with pytest.raises(ValueError, match=message):
        train(cn, args.pop("X"), args.pop("Y"), **args)
    assert recorder.batches == []


def test_non_numeric_data_is_a_type_error(cn):
    with pytest.raises(TypeError, match="X"):
        train(cn, [["a", "b", "c"]], np.zeros((1, 3)))


class _Terminal(io.StringIO):
    def isatty(self):
        return True


def test_progress_bar_only_on_a_terminal(cn, monkeypatch, capsys):
    x, _ = _data(10)
    y = np.zeros((10, 3))
    train(cn, x, y, epochs=2, batch_size=4)
    assert capsys.readouterr() == ("", ""), "stderr is not a terminal under pytest: no bar"

    terminal = _Terminal()
    monkeypatch.setattr("sys.stderr", terminal)
    train(cn, x, y, epochs=2, batch_size=4)
    shown = terminal.getvalue()
    assert "2/2" in shown and "epoch" in shown and "loss=" in shown

    terminal = _Terminal()
    monkeypatch.setattr("sys.stderr", terminal)
    train(cn, x, y, epochs=1, progress=False)
    assert terminal.getvalue() == ""


def test_progress_true_forces_the_tqdm_bar_with_the_epoch_metrics(cn, capsys):
    x, classes = _data(10)
    _, _, history = train(cn, x, classes, loss="xent", epochs=3, batch_size=5, progress=True)
    err = capsys.readouterr().err
    last = err.replace("\r", "\n").strip().splitlines()[-1]
    assert "3/3" in last, "one bar step per epoch"
    assert f"loss={history['loss'][-1]:.4g}" in last and f"accuracy={history['accuracy'][-1]:.4g}" in last


def test_progress_under_an_ipython_kernel(cn, monkeypatch, capsys):
    """No terminal, but a notebook's kernel: the bar shows (tqdm.auto renders it there)."""
    import types
    shell = types.SimpleNamespace(kernel=object())
    monkeypatch.setitem(sys.modules, "IPython", types.SimpleNamespace(get_ipython=lambda: shell))
    x, _ = _data(10)
    train(cn, x, np.zeros((10, 3)), epochs=1, progress=None)
    assert "1/1" in capsys.readouterr().err


@pytest.mark.parametrize("name, kind, momentum", [
    ("sgd", SGD, 0.0), ("momentum", SGD, 0.9), ("rmsprop", RMSprop, None), ("adam", Adam, None)])
def test_optimizer_names_are_the_clis(cn, monkeypatch, name, kind, momentum):
    """train(optimizer=NAME) steps as the named optimizer with lr 1e-3 would, bit for bit."""
    assert name in OPTIMIZERS
    x, _ = _data(8)
    y = np.zeros((8, 3))
    by_name = train(cn, x, y, optimizer=name, epochs=2, batch_size=4)
    explicit = kind(1e-3) if momentum is None else kind(1e-3, momentum=momentum)
    by_object = train(cn, x, y, optimizer=explicit, epochs=2, batch_size=4)
    np.testing.assert_array_equal(by_name[0], by_object[0])
    assert by_name[2] == by_object[2]


def test_a_loss_that_becomes_nan_stops_training_naming_epoch_and_lr():
    net = nets.dense([1, 1], activation="identity", output_activation="square")
    cn = compile(net, dtype="float64")
    x = np.full((4, 1), 3.0)
    with pytest.raises(FloatingPointError, match=r"the loss became (inf|nan) in epoch \d+ .*lr=1e\+?0?6"):
        train(cn, x, np.zeros((4, 1)), optimizer=SGD(1e6), epochs=50, batch_size=4)


def _example(name):
    spec = importlib.util.spec_from_file_location(name, ROOT / "examples" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_xor_example_converges_quickly():
    started = time.perf_counter()
    cn, w, b, history = _example("xor").learn_xor()
    assert history["loss"][-1] < 0.01
    y = cn.forward(np.array([[0, 0], [0, 1], [1, 0], [1, 1]]), w, b)
    np.testing.assert_array_equal(np.round(y[:, 0]), [0, 1, 1, 0])
    assert time.perf_counter() - started < 10
