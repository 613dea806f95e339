"""Scale benchmark: time and peak memory of every stage for random DAGs of 1e6 and 1e7 edges.

A script, not a test: `python benchmarks/scale.py [--edges E ...] [--batch B]`
builds, for each size, a random layered DAG (`jitnet.nets.random_dag`, mean
fan-in 40, so 1e6 edges is ~25,000 neurons), writes it as a .nal file to a
temporary folder, then times each stage alone: parse (`jitnet.parse(path)`),
compile (`jitnet.compile(net, cache=False)`), forward and backward at one
batch (default 256; the first call, which builds scratch and, for backward,
the gradient code, and the median of a few more), and the total of parse,
compile and the first calls.

Memory: after each stage it reads the process's peak RSS (`ru_maxrss`) and
its current RSS, and compares the peak with the bytes of the net's own arrays
(the `Net`'s, w and b, the compiled plan's index arrays and the scratch), so
the table can say "peak RSS is k x the net's arrays".

NOTE: each size runs in two fresh processes, one to generate and write the
file and one to measure, so a peak RSS belongs to one size and to the stages
measured, not to the generator. The parent watches the child's RSS and stops
it past `--max-rss-gb` or `--timeout`, reporting the stage it was in.
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout

import jitnet  # noqa: E402
from jitnet import nets  # noqa: E402

MEAN_FAN_IN = 40
MB = 1 << 20


def dag_for(edges: int) -> jitnet.Net:
    """A random DAG of about `edges` edges: fan-in 20..60 (mean 40), 8 hidden layers.

    NOTE: every non-input neuron has ~40 in-edges, and neurons left without
    a reader get one more edge (~1 per 8 neurons), so N ~ edges / 40.
    """
    n_neurons = max(edges // MEAN_FAN_IN, 200)
    n_inputs, n_outputs = max(n_neurons // 100, 64), 10
    n_hidden = n_neurons - n_inputs - n_outputs
    return nets.random_dag(n_inputs, n_outputs, n_hidden, fan_in=(20, 60), n_layers=8, seed=0)


def peak_mb() -> float:
    """This process's peak resident set so far (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def rss_mb(pid="self") -> float:
    """A process's current resident set, from /proc."""
    with open(f"/proc/{pid}/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / MB


def emit(**record) -> None:
    """One JSON line per finished stage: the parent reads them as they come."""
    print(json.dumps(record), flush=True)


def stage(name: str, call):
    """Run `call` once, emit its time and the RSS after it, and return its result."""
    start = time.perf_counter()
    result = call()
    emit(stage=name, seconds=time.perf_counter() - start, peak_mb=peak_mb(), rss_mb=rss_mb())
    return result


def generate(edges: int, path: str) -> int:
    """Child 1: build the DAG and write it as NAL text to `path`."""
    emit(stage="start", seconds=0.0, peak_mb=peak_mb(), rss_mb=rss_mb())
    net = stage("random_dag", lambda: dag_for(edges))
    text = stage("write nal", lambda: jitnet.write(net, "nal"))
    stage("save file", lambda: Path(path).write_text(text, encoding="ascii"))
    emit(info="net", n_neurons=net.n_neurons, n_weights=net.n_weights, n_inputs=net.n_inputs,
         n_outputs=net.n_outputs, depth=int(net.depth.max()), file_mb=os.path.getsize(path) / MB)
    return 0


def array_bytes(*owners) -> int:
    """Bytes of every numpy array held in the attributes of `owners` (views counted once)."""
    seen, total = set(), 0
    for owner in owners:
        names = getattr(owner, "__slots__", None) or vars(owner)
        for name in names:
            a = getattr(owner, name, None)
            if isinstance(a, np.ndarray):
                base = a if a.base is None else a.base
                if id(base) not in seen and isinstance(base, np.ndarray):
                    seen.add(id(base))
                    total += base.nbytes
    return total


def measure(path: str, batch: int, threads: int, repeats: int) -> int:
    """Child 2: parse, compile, forward, backward; time and RSS after each."""
    emit(stage="start", seconds=0.0, peak_mb=peak_mb(), rss_mb=rss_mb())
    net = stage("parse", lambda: jitnet.parse(path))
    cn = stage("compile", lambda: jitnet.compile(net, cache=False, threads=threads))
    w, b = cn.init(seed=0)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(batch, cn.n_inputs)).astype(cn.dtype)
    dy = rng.normal(size=(batch, cn.n_outputs)).astype(cn.dtype)
    stage("forward 1st", lambda: cn.forward(x, w, b))
    stage("backward 1st", lambda: cn.backward(x, w, b, dy))
    for _ in range(repeats):
        stage("forward", lambda: cn.forward(x, w, b))
    for _ in range(repeats):
        stage("backward", lambda: cn.backward(x, w, b, dy))
    scratch = sum(getattr(cn._scratch, kind).nbytes for kind in ("tile_buffer", "grad_buffer")
                  if hasattr(cn._scratch, kind))
    emit(info="arrays", net_mb=array_bytes(net) / MB, plan_mb=array_bytes(cn._plan) / MB,
         weights_mb=(w.nbytes + b.nbytes) / MB, scratch_mb=scratch / MB,
         io_mb=(x.nbytes + dy.nbytes) / MB)
    return 0


def run_child(args: list, max_rss_mb: float, timeout: float) -> tuple:
    """Run this script as a child; watch its RSS; return (records, why it stopped early or None)."""
    proc = subprocess.Popen([sys.executable, __file__] + args, stdout=subprocess.PIPE, text=True)
    records, watched = [], {"max_rss_mb": 0.0}
    reader = threading.Thread(target=lambda: records.extend(json.loads(line) for line in proc.stdout))
    reader.start()
    start, stopped = time.perf_counter(), None
    while proc.poll() is None:
        try:
            now = rss_mb(proc.pid)
        except (FileNotFoundError, ProcessLookupError):
            break
        watched["max_rss_mb"] = max(watched["max_rss_mb"], now)
        if now > max_rss_mb or time.perf_counter() - start > timeout:
            stopped = (f"stopped at {now:.0f} MB RSS after {time.perf_counter() - start:.0f} s, "
                       f"after stage {records[-1].get('stage', '?') if records else 'none'!r}")
            proc.kill()
            break
        time.sleep(0.1)
    proc.wait()
    reader.join()
    if stopped is None and proc.returncode != 0:
        stopped = f"exit code {proc.returncode}"
    return records, stopped


def report(edges: int, made: list, measured: list, stopped) -> None:
    """Print one size's table: stage, seconds, peak and current RSS; then k."""
    info = {r["info"]: r for r in made + measured if "info" in r}
    net = info.get("net", {})
    print(f"\n== --edges {edges:.0e}: N={net.get('n_neurons')} W={net.get('n_weights')} "
          f"inputs={net.get('n_inputs')} outputs={net.get('n_outputs')} depth={net.get('depth')} "
          f".nal {net.get('file_mb', 0):.0f} MB")
    print(f"{'process':<9} {'stage':<14} {'seconds':>9} {'peak RSS MB':>12} {'RSS MB':>8}")
    for who, records in (("generate", made), ("measure", measured)):
        steady = {}
        for r in records:
            if "stage" not in r:
                continue
            if r["stage"] in ("forward", "backward"):
                steady.setdefault(r["stage"], []).append(r)
                continue
            print(f"{who:<9} {r['stage']:<14} {r['seconds']:9.3f} {r['peak_mb']:12.0f} {r['rss_mb']:8.0f}")
        for name, rs in steady.items():
            print(f"{who:<9} {name + ' (med)':<14} {np.median([r['seconds'] for r in rs]):9.3f} "
                  f"{rs[-1]['peak_mb']:12.0f} {rs[-1]['rss_mb']:8.0f}")
    if stopped:
        print(f"NOT FINISHED: {stopped}")
    times = {r["stage"]: r["seconds"] for r in measured if "stage" in r and r["stage"] != "forward"}
    total = sum(times.get(s, 0.0) for s in ("parse", "compile", "forward 1st", "backward 1st"))
    print(f"total (parse + compile + 1st forward + 1st backward): {total:.2f} s")
    if "arrays" in info:
        a = info["arrays"]
        own = a["net_mb"] + a["plan_mb"] + a["weights_mb"] + a["scratch_mb"]
        start = measured[0]["peak_mb"]
        peak = max(r["peak_mb"] for r in measured if "stage" in r)
        print(f"net's arrays: Net {a['net_mb']:.0f} MB + plan {a['plan_mb']:.0f} + w,b "
              f"{a['weights_mb']:.0f} + scratch {a['scratch_mb']:.0f} = {own:.0f} MB "
              f"(x, dy {a['io_mb']:.0f} MB)")
        print(f"peak RSS {peak:.0f} MB = {peak / own:.1f} x the net's arrays; above the "
              f"{start:.0f} MB of a fresh process: {(peak - start) / own:.1f} x")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--edges", type=float, nargs="+", default=[1e6, 1e7],
                        help="sizes to run, in edges (default: 1e6 1e7)")
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3, help="timed calls after the first")
    parser.add_argument("--max-rss-gb", type=float, default=8.0)
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds per child process")
    parser.add_argument("--child", choices=["generate", "measure"], help=argparse.SUPPRESS)
    parser.add_argument("--path", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child == "generate":
        return generate(int(args.edges[0]), args.path)
    if args.child == "measure":
        return measure(args.path, args.batch, args.threads, args.repeats)
    limits = (args.max_rss_gb * 1024, args.timeout)
    for edges in (int(e) for e in args.edges):
        with tempfile.TemporaryDirectory(prefix="jitnet-scale-") as folder:
            path = os.path.join(folder, f"dag_{edges}.nal")
            made, stopped = run_child(["--child", "generate", "--edges", str(edges), "--path", path],
                                      *limits)
            measured = []
            if stopped is None:
                measured, stopped = run_child(
                    ["--child", "measure", "--path", path, "--batch", str(args.batch),
                     "--threads", str(args.threads), "--repeats", str(args.repeats)], *limits)
            report(edges, made, measured, stopped)
    return 0


if __name__ == "__main__":
    sys.exit(main())
