"""`jitnet train` (SPEC §6): it trains as `jitnet.train` does and writes a .nel that `jitnet run` uses."""

import re

import numpy as np
import pytest

from jitnet import nets
from jitnet.cli import main
from jitnet.compiler import compile
from jitnet.optim import SGD, Adam, RMSprop
from jitnet.text.parse import parse
from jitnet.text.write import write
from jitnet.train import train

NET = nets.dense([2, 3, 2], activation="tanh", output_activation="identity")


@pytest.fixture
def files(tmp_path):
    """A net, a tiny two-class data set and three samples to run, written in tmp_path."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(20, 2))
    classes = (x[:, 0] > x[:, 1]).astype(np.int64)
    (tmp_path / "net.nal").write_text(write(NET, "nal"))
    np.savez(tmp_path / "data.npz", x=x, y=classes)
    np.save(tmp_path / "x.npy", x[:3])
    return tmp_path, x, classes


def _train_cli(tmp_path, capsys, *options):
    out = tmp_path / "out.nel"
    status = main(["train", str(tmp_path / "net.nal"), "--data", str(tmp_path / "data.npz"),
                   "-o", str(out), *options])
    captured = capsys.readouterr()
    assert status == 0, captured.err
    return parse(out), captured.out.splitlines()


def test_train_writes_the_trained_net_and_prints_each_epoch(files, capsys):
    tmp_path, x, classes = files
    trained, lines = _train_cli(tmp_path, capsys, "--loss", "xent", "--optimizer", "rmsprop",
                                "--lr", "0.05", "--epochs", "3", "--batch-size", "8", "--seed", "4")
    cn = compile(NET)
    w, b, history = train(cn, x, classes, loss="xent", optimizer=RMSprop(0.05), epochs=3,
                          batch_size=8, seed=4)
    np.testing.assert_array_equal(trained.weights, w)
    np.testing.assert_array_equal(trained.biases[NET.fan_in > 0], b[NET.fan_in > 0])
    assert trained.edges.tolist() == NET.edges.tolist()
    assert trained.activations.tolist() == NET.activations.tolist()
    assert lines == [f"epoch {k + 1}/3 loss {history['loss'][k]:.6g} accuracy {history['accuracy'][k]:.6g}"
                     for k in range(3)]


def test_jitnet_run_uses_the_trained_weights(files, capsys):
    tmp_path, x, _ = files
    trained, _ = _train_cli(tmp_path, capsys, "--epochs", "2", "--loss", "xent")
    assert main(["run", str(tmp_path / "out.nel"), "--input", str(tmp_path / "x.npy")]) == 0
    printed = capsys.readouterr().out.splitlines()
    y = compile(NET).forward(x[:3], trained.weights, trained.biases)
    assert printed == [" ".join(repr(float(v)) for v in row) for row in y]


def test_defaults_are_mse_adam_1e_3_ten_epochs_of_32_seed_0(files, capsys):
    tmp_path, x, classes = files
    targets = np.eye(2)[classes]
    np.savez(tmp_path / "data.npz", x=x, y=targets)
    trained, lines = _train_cli(tmp_path, capsys)
    w, _, history = train(compile(NET), x, targets, loss="mse", optimizer=Adam(0.001), epochs=10,
                          batch_size=32, seed=0)
    np.testing.assert_array_equal(trained.weights, w)
    assert lines == [f"epoch {k + 1}/10 loss {v:.6g}" for k, v in enumerate(history["loss"])]


@pytest.mark.parametrize("name, optimizer", [("sgd", SGD(0.1)), ("momentum", SGD(0.1, momentum=0.9)),
                                             ("rmsprop", RMSprop(0.1)), ("adam", Adam(0.1))])
def test_optimizer_choices(files, capsys, name, optimizer):
    tmp_path, x, classes = files
    trained, _ = _train_cli(tmp_path, capsys, "--loss", "xent", "--optimizer", name, "--lr", "0.1",
                            "--epochs", "2", "--dtype", "float64")
    w, _, _ = train(compile(NET, dtype="float64"), x, classes, loss="xent", optimizer=optimizer, epochs=2)
    np.testing.assert_array_equal(trained.weights, w)


def test_a_nam_keeps_its_activation_and_a_trained_nel_trains_on(files, capsys):
    tmp_path, x, classes = files
    (tmp_path / "net.nam").write_text(write(NET, "nam"))
    out = tmp_path / "out.nel"
    assert main(["train", str(tmp_path / "net.nam"), "--activation", "tanh", "--data",
                 str(tmp_path / "data.npz"), "-o", str(out), "--loss", "xent", "--epochs", "1"]) == 0
    first = parse(out)
    assert set(first.activations[NET.fan_in > 0].tolist()) == {2}

    again = tmp_path / "again.nel"
    assert main(["train", str(out), "--data", str(tmp_path / "data.npz"), "-o", str(again),
                 "--loss", "xent", "--epochs", "1"]) == 0
    w, _, _ = train(compile(first), x, classes, loss="xent", epochs=1, w=first.weights, b=first.biases)
    np.testing.assert_array_equal(parse(again).weights, w)


@pytest.mark.parametrize("arrays, message", [
    (dict(x=np.zeros((4, 2))), r"data.npz: expected arrays x and y for --data, got x$"),
    (dict(x=np.zeros((4, 3)), y=np.zeros((4, 2))), r"data\.npz: X has shape \(4, 3\)"),
    (dict(x=np.zeros((4, 2)), y=np.zeros(4)), r"data\.npz: Y has shape \(4,\); expected \(4, 2\)"),
])
def test_bad_data_is_one_line_and_status_2(files, capsys, arrays, message):
    tmp_path, _, _ = files
    np.savez(tmp_path / "data.npz", **arrays)
    status = main(["train", str(tmp_path / "net.nal"), "--data", str(tmp_path / "data.npz"),
                   "-o", str(tmp_path / "out.nel")])
    err = capsys.readouterr().err
    assert status == 2 and len(err.splitlines()) == 1
    assert re.search(message, err)
    assert not (tmp_path / "out.nel").exists()
