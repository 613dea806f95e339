"""Time `jitnet.parse` on large nets: a 1M-edge NAL, a 4096 x 4096 NAM, two 1M-edge NELs.

A script, not a test: `python benchmarks/parse.py` writes the files to a temp
folder and prints the median of 3 parses of each (the time includes reading
the file and building the `Net`).
"""

import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout

from jitnet.text.parse import parse  # noqa: E402

N_NEURONS = 25_000
N_INPUTS = 1_000
N_EDGES = 1_000_000
MATRIX = 4096
LAYERS = 16
REPEATS = 3


def random_in_edges(seed: int = 0) -> list:
    """For each non-input neuron j, ~40 distinct in-indices below j: N_EDGES in all."""
    rng = np.random.default_rng(seed)
    targets = np.arange(N_INPUTS, N_NEURONS)
    fan_in = np.full(len(targets), N_EDGES // len(targets))
    fan_in[: N_EDGES - fan_in.sum()] += 1
    return [(int(j), np.sort(rng.choice(int(j), int(k), replace=False)))
            for j, k in zip(targets, fan_in)]


def nal_text(in_edges: list) -> str:
    lines = [f"% {N_EDGES} edges", f"N {N_NEURONS:x}"]
    lines += [f"{j:04x}" for j in range(N_INPUTS)]
    lines += [f"{j:04x} 03 " + ",".join(f"{i:04x}" for i in sources) for j, sources in in_edges]
    return "\n".join(lines) + "\n"


def nel_text(in_edges: list, trained: bool) -> str:
    """Edge lines `i j`; or, `trained`, as `jitnet.write` gives a trained net: `i j w`
    (hex floats) and an `act` and a `bias` line per neuron."""
    rng = np.random.default_rng(1)
    lines = [f"N {N_NEURONS:x}"]
    for j, sources in in_edges:
        if not trained:
            lines += [f"{i:04x} {j:04x}" for i in sources.tolist()]
            continue
        weights = rng.uniform(-1, 1, len(sources)).tolist()
        lines += [f"{i:04x} {j:04x} {w.hex()}" for i, w in zip(sources.tolist(), weights)]
        lines += [f"act {j:04x} 03", f"bias {j:04x} {rng.uniform(-1, 1).hex()}"]
    return "\n".join(lines) + "\n"


def nam_text() -> str:
    """A layered net: LAYERS layers of MATRIX/LAYERS neurons, each fully connected to the next."""
    width = MATRIX // LAYERS
    layer = np.arange(MATRIX) // width
    rows = (layer[None, :] == layer[:, None] + 1).astype(np.uint8) + ord("0")
    return "\n".join(row.tobytes().decode("ascii") for row in rows) + "\n"


def median_time(path: Path) -> tuple:
    times = []
    for _ in range(REPEATS):
        start = time.perf_counter()
        net = parse(path)
        times.append(time.perf_counter() - start)
    return statistics.median(times), net


def main() -> None:
    in_edges = random_in_edges()
    cases = {
        "1M-edge .nal (25,000 neurons)": ("big.nal", nal_text(in_edges)),
        "4096 x 4096 .nam (16 dense layers)": ("big.nam", nam_text()),
        "1M-edge .nel, edges only": ("edges.nel", nel_text(in_edges, trained=False)),
        "1M-edge .nel, hex weights, act + bias": ("trained.nel", nel_text(in_edges, trained=True)),
    }
    with tempfile.TemporaryDirectory() as folder:
        print(f"{'file':42} {'MB':>6} {'edges':>9} {'median of 3 (s)':>16}")
        for label, (name, text) in cases.items():
            path = Path(folder) / name
            path.write_text(text, encoding="utf-8")
            seconds, net = median_time(path)
            megabytes = path.stat().st_size / 1e6
            print(f"{label:42} {megabytes:6.1f} {net.n_weights:9d} {seconds:16.2f}")


if __name__ == "__main__":
    main()
