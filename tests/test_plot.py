"""Training curves (SPEC §11): one panel per metric, training and held-out curves, saved headless."""

import sys

import numpy as np
import pytest

import jitnet
from jitnet import nets
from jitnet.cli import main
from jitnet.text.write import write


def _history(epochs=4, validated=True, accuracy=True):
    rng = np.random.default_rng(epochs)
    history = {"loss": list(rng.random(epochs))}
    if accuracy:
        history["accuracy"] = list(rng.random(epochs))
    if validated:
        history["val_loss"] = list(rng.random(epochs))
        if accuracy:
            history["val_accuracy"] = list(rng.random(epochs))
    return history


@pytest.mark.parametrize("validated", [True, False])
@pytest.mark.parametrize("accuracy", [True, False])
def test_one_panel_per_metric_with_its_curves(validated, accuracy):
    history = _history(validated=validated, accuracy=accuracy)
    figure = jitnet.plot_history(history)
    panels = figure.get_axes()
    assert [a.get_title() for a in panels] == (["loss", "accuracy"] if accuracy else ["loss"])
    for panel, metric in zip(panels, ["loss", "accuracy"]):
        lines = panel.get_lines()
        assert [line.get_label() for line in lines] == (["training", "held out"] if validated else ["training"])
        assert np.array_equal(lines[0].get_ydata(), history[metric])
        assert list(lines[0].get_xdata()) == [1, 2, 3, 4]
        if validated:
            assert np.array_equal(lines[1].get_ydata(), history["val_" + metric])


@pytest.mark.parametrize("extension, magic", [(".png", b"\x89PNG"), (".pdf", b"%PDF"), (".svg", b"<?xml")])
def test_saved_in_the_extensions_format(tmp_path, extension, magic):
    path = tmp_path / ("curves" + extension)
    jitnet.plot_history(_history(), path)
    assert path.read_bytes().startswith(magic)


def test_bad_histories_and_extensions(tmp_path):
    with pytest.raises(ValueError, match="expected at least 'loss'"):
        jitnet.plot_history({"accuracy": [1.0]})
    with pytest.raises(ValueError, match="differ in length"):
        jitnet.plot_history({"loss": [1.0, 2.0], "val_loss": [1.0]})
    with pytest.raises(ValueError, match=r"curves\.xyz: cannot tell"):
        jitnet.plot_history(_history(), tmp_path / "curves.xyz")
    assert not (tmp_path / "curves.xyz").exists()


def test_a_real_training_history_plots(tmp_path):
    cn = jitnet.compile(nets.dense([2, 3, 1], activation="tanh"), dtype="float64")
    x = np.random.default_rng(0).normal(size=(16, 2))
    _, _, history = jitnet.train(cn, x, x[:, :1] * x[:, 1:], epochs=3, batch_size=4,
                                 validation=(x[:4], x[:4, :1]), progress=False)
    figure = jitnet.plot_history(history, tmp_path / "h.png")
    assert np.array_equal(figure.get_axes()[0].get_lines()[1].get_ydata(), history["val_loss"])


@pytest.fixture
def files(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(12, 2))
    (tmp_path / "net.nal").write_text(write(nets.dense([2, 3, 2], activation="tanh"), "nal"))
    np.savez(tmp_path / "data.npz", x=x, y=(x[:, 0] > 0).astype(np.int64))
    return tmp_path


def _train(files, *extra):
    return main(["train", str(files / "net.nal"), "--data", str(files / "data.npz"), "-o", str(files / "o.nel"),
                 "--loss", "xent", "--epochs", "3", *extra])


def test_cli_train_plot_saves_the_curves(files, capsys):
    assert _train(files, "--plot", str(files / "curves.png")) == 0
    assert (files / "curves.png").read_bytes().startswith(b"\x89PNG")
    assert len(capsys.readouterr().out.splitlines()) == 3


@pytest.mark.parametrize("plot, message", [("curves.xyz", "cannot tell the picture's format"),
                                           ("missing/curves.png", "expected an existing folder")])
def test_cli_train_plot_checked_before_training(files, capsys, plot, message):
    assert _train(files, "--plot", str(files / plot)) == 2
    captured = capsys.readouterr()
    assert message in captured.err and captured.out == "" and not (files / "o.nel").exists()


def test_cli_train_plot_without_matplotlib_names_the_extra(files, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    assert _train(files, "--plot", str(files / "curves.png")) == 2
    captured = capsys.readouterr()
    assert "jitnet[plot]" in captured.err and captured.out == "" and not (files / "o.nel").exists()
