"""Training curves: a `train` history -> a matplotlib Figure (SPEC §11).

One panel per metric (loss, then accuracy when the history has it), the
training curve and its held-out `val_` curve in the same panel, against the
epoch. The Figure is built without pyplot and saved through the Agg canvas,
so it works headless and leaves any interactive matplotlib state alone.
Needs the extra `plot` (matplotlib).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Mapping, Sequence

if TYPE_CHECKING:
    from matplotlib.figure import Figure

_TITLES = {"loss": "loss", "accuracy": "accuracy"}


def require_matplotlib() -> None:
    """Raise the one-line ImportError that names the extra, when matplotlib is missing."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise ImportError("plotting training curves needs matplotlib: "
                          "python -m pip install 'jitnet[plot]'") from None


def plot_history(history: Mapping[str, Sequence[float]], path: str | Path | None = None) -> Figure:
    """The training curves of `history` (as `jitnet.train` returns it), saved to `path` when given.

    Args:
        history: per-epoch lists: "loss" and optionally "accuracy", each
            optionally with its "val_" twin.
        path: where to save; the format comes from the extension (.png, .svg, .pdf, ...).

    Raises:
        ImportError: matplotlib is missing (extra `plot`).
        ValueError: a history without "loss", curves of different lengths, or
            an extension matplotlib cannot write.
    """
    require_matplotlib()
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    metrics = _metrics(history)
    figure = Figure(figsize=(5.0 * len(metrics), 3.6), layout="constrained")
    FigureCanvasAgg(figure)
    for axes, metric in zip(figure.subplots(1, len(metrics), squeeze=False)[0], metrics):
        for key, label in ((metric, "training"), ("val_" + metric, "held out")):
            if key in history:
                values = list(history[key])
                axes.plot(range(1, len(values) + 1), values, marker="o" if len(values) < 30 else None,
                          markersize=3, label=label)
        axes.set_title(_TITLES.get(metric, metric))
        axes.set_xlabel("epoch")
        axes.grid(True, alpha=0.3)
        axes.legend()
    if path is not None:
        _check_format(figure, Path(path))
        figure.savefig(path)
    return figure


def _metrics(history: Mapping[str, Sequence[float]]) -> list:
    if "loss" not in history:
        raise ValueError(f"history has keys {sorted(history)}; expected at least 'loss' (as jitnet.train returns)")
    lengths = {key: len(values) for key, values in history.items()}
    if len(set(lengths.values())) > 1:
        raise ValueError(f"history's curves differ in length: {lengths}; expected one value per epoch in each")
    return [key for key in history if not key.startswith("val_")]


def _check_format(figure: Figure, path: Path) -> None:
    kind = path.suffix.lower().lstrip(".")
    supported = figure.canvas.get_supported_filetypes()
    if kind not in supported:
        raise ValueError(f"{path}: cannot tell the picture's format from the extension; "
                         f"expected one of {', '.join('.' + k for k in sorted(supported))}")


def check_plot_path(path: str | Path) -> None:
    """Refuse, before any training, a `--plot` path matplotlib could not write."""
    require_matplotlib()
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    figure = Figure()
    FigureCanvasAgg(figure)
    _check_format(figure, Path(path))
