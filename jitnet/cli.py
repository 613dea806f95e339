"""The `jitnet` command: argv -> exit code (SPEC §6).

Only `main` turns exceptions into exit codes. A user's mistake (a malformed
net, a missing or wrong kind of file, a bad argument, a diverging training
run) prints one line `jitnet: ...` on stderr and exits with status 2; anything
else is a bug in jitnet and keeps its traceback (status 1). Messages use the
command line's spellings (`--inputs`, `--format nal`), not Python's.

Files named with `-o` are checked before any work (extension, folder, write
permission) and written atomically: a temporary file in the same folder,
renamed over the target only once it is complete.

NOTE: over 400 lines on purpose: the argument parser is one table of every
command's options, and each command is a short function beside it; split,
the parser and its commands would be read in two places.
"""

import argparse
import collections
import os
import re
import sys
from typing import List, Optional, Sequence

import numpy as np

from . import __version__
from .activations import ACTIVATIONS
from .compiler import DTYPES, STRATEGIES
from .errors import NetFormatError
from .files import write_atomically
from .losses import LOSSES
from .optim import OPTIMIZERS
from .text.parse import FORMATS
from .text.write import FORMATS as WRITE_FORMATS

DESCRIPTION = ("Compile, run, train and convert neural nets written in the ncc text formats "
               "(.nal adjacency list, .nam adjacency matrix, .nel edge list).")

# The errors a user causes; anything else is a bug and keeps its traceback.
class MissingTool(Exception):
    """An optional package or program the command needs is missing; the message says what to install."""


USER_ERRORS = (NetFormatError, OSError, ValueError, TypeError, FloatingPointError, MissingTool)

# Python spellings in library messages -> the flags a CLI user typed.
_SPELLINGS = [(re.compile(r"\bformat=(['\"]?)(\w+)\1"), r"--format \2"),
              (re.compile(r"(?<![-\w])format(?= must)"), "--format"),
              (re.compile(r"\binclude_inputs\b"), "--inputs"),
              (re.compile(r"\bactivation=(['\"]?)(\w+)\1"), r"--activation \2"),
              (re.compile(r"(?<![-\w])batch_size=?"), "--batch-size "),
              (re.compile(r"(?<![-\w])epochs="), "--epochs "),
              (re.compile(r"(?<![-\w])loss=(['\"]?)(\w+)\1"), r"--loss \2")]


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run the command line; returns the exit status (0 ok, 2 the user's mistake)."""
    args = _parser().parse_args(argv)
    try:
        status = args.command(args)
        sys.stdout.flush()
        return status
    except BrokenPipeError:
        # A reader that stopped early (`jitnet run ... | head -1`) is not an error. As the
        # Python docs advise, stdout goes to devnull so the flush at exit cannot fail again.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
    except USER_ERRORS as e:
        print(f"jitnet: {_cli_message(e)}", file=sys.stderr)
        return 2


def _cli_message(e: Exception) -> str:
    """One line, with an OSError's file named and Python spellings turned into flags."""
    message = " ".join(str(e).split())
    if isinstance(e, OSError) and e.filename is not None:
        message = f"{e.filename}: {e.strerror or message}"
    for pattern, flag in _SPELLINGS:
        message = pattern.sub(flag, message)
    return message


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Each option's default after its help, except for flags and options without one."""

    def _get_help_string(self, action):
        if action.default is None or action.default is False or action.default is argparse.SUPPRESS:
            return action.help
        return super()._get_help_string(action)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="jitnet", description=DESCRIPTION, formatter_class=_HelpFormatter,
                                     epilog="Run `jitnet COMMAND --help` for a command's options. Exit status: "
                                            "0 success, 2 bad input (one line on stderr), 1 a bug.")
    parser.add_argument("--version", action="version", version=f"jitnet {__version__}")
    sub = parser.add_subparsers(dest="name", required=True, metavar="COMMAND")

    eqs = _command(sub, "eqs", _eqs, "print ncc's forward-pass equations (or --bwd, --matrix)")
    kind = eqs.add_mutually_exclusive_group()
    kind.add_argument("--bwd", action="store_true", help="print the complete backward pass instead")
    kind.add_argument("--matrix", action="store_true", help="print ncc's weight block table instead")
    eqs.add_argument("--inputs", action="store_true", help="also print the input neurons' lines (fwd only)")

    convert = _command(sub, "convert", _convert, "convert a net to another text format")
    convert.add_argument("--to", required=True, choices=WRITE_FORMATS, help="the format to write")
    convert.add_argument("-o", "--output", metavar="OUT",
                         help="write to this file (its extension must match --to); default: stdout")
    convert.add_argument("--strict", action="store_true",
                         help="fail (exit 2) instead of warning when --to cannot carry all the net has")

    _command(sub, "info", _info, "what a net is and carries: counts, depth, fan-in/out, activations, weights")

    ir = _command(sub, "ir", _ir, "print the optimized LLVM IR of the forward pass", compiles=True)
    ir_kind = ir.add_mutually_exclusive_group()
    ir_kind.add_argument("--unoptimized", action="store_true", help="the IR before any optimization pass")
    ir_kind.add_argument("--backward", action="store_true", help="the IR of the backward (gradient) pass")
    _command(sub, "asm", _asm, "print the machine code of the forward pass", compiles=True)

    run = _command(sub, "run", _run, "run the forward pass and print one line of outputs per sample",
                   compiles=True)
    run.add_argument("--input", metavar="X.npy",
                     help="samples, an .npy array (n_inputs,) or (batch, n_inputs); default: one random sample")
    run.add_argument("--weights", metavar="WB.npz",
                     help="an .npz with array w (and optionally b); default: the .nel's own, else init(seed=0)")
    run.add_argument("--classes", action="store_true",
                     help="print each sample's class (the index of its largest output) instead of the outputs")

    train = _command(sub, "train", _train, "train the weights and biases on --data and write a .nel",
                     compiles=True)
    train.add_argument("--data", required=True, metavar="D.npz",
                       help="an .npz with arrays x (samples, n_inputs) and y (targets)")
    train.add_argument("-o", "--output", required=True, metavar="OUT.nel",
                       help="the trained net, an .nel file (checked before training, written atomically)")
    train.add_argument("--loss", choices=LOSSES, default="mse",
                       help="mse: 0.5 * sum of squares; xent: softmax cross-entropy (y: class indices or one-hot)")
    train.add_argument("--optimizer", choices=OPTIMIZERS, default="adam",
                       help="the update rule (momentum is SGD with momentum 0.9)")
    train.add_argument("--lr", type=_positive_float, default=0.001, help="the learning rate")
    train.add_argument("--epochs", type=_positive_int, default=10, help="passes over the data")
    train.add_argument("--batch-size", type=_positive_int, default=32,
                       help="samples per step (the gradient is the batch mean)")
    train.add_argument("--seed", type=int, default=0, help="seeds the initial weights and the shuffling")
    train.add_argument("--plot", metavar="CURVES.png",
                       help="also save the loss (and accuracy) curves, format from the extension (matplotlib)")

    export = _command(sub, "export", _export, "compile the net ahead of time to an object file and a C header")
    export.add_argument("-o", "--output", required=True, metavar="OUT",
                        help="writes OUT.o (or OUT.so with --shared) and OUT.h; a trailing .o, .so, .h is dropped")
    export.add_argument("--weights", metavar="WB.npz",
                        help="weights to embed (NAME_forward); default: the net file's own, if any")
    export.add_argument("--dtype", choices=DTYPES, default="float32",
                        help="the numbers the exported code computes in")
    export.add_argument("--name", default=None,
                        help="the C prefix of every symbol; default: OUT's file name as an identifier")
    export.add_argument("--cpu", default="host", help="host, or a CPU of jitnet's table (x86-64, x86-64-v3, "
                        "skylake-avx512, znver4, ...)")
    export.add_argument("--backward", action="store_true", help="also export NAME_backward")
    export.add_argument("--shared", action="store_true",
                        help="link a shared library with the system's C compiler instead of an object")

    draw = _command(sub, "draw", _draw, "draw the net with Graphviz: neurons by depth, edges by weight")
    draw.add_argument("-o", "--output", required=True, metavar="OUT.svg",
                      help="the picture: .svg, .png or .pdf (needs Graphviz's dot program) or .dot (the source)")
    draw.add_argument("--weights", metavar="WB.npz",
                      help="an .npz with array w (and optionally b); default: the net file's own, if any")
    draw.add_argument("--max-edges", type=_positive_int, default=2000,
                      help="above this many edges, draw one node per (depth, activation) group")

    bench = sub.add_parser("bench", help="throughput against numpy, scipy, torch, neat-python",
                           description="Throughput against numpy, scipy, torch, neat-python.",
                           formatter_class=_HelpFormatter)
    bench.set_defaults(command=_bench)
    bench.add_argument("net", nargs="?", help="a net file; none: the whole benchmark suite")
    bench.add_argument("--batch", type=int, default=None,
                       help="batch size (default 4096; the suite: each net's own)")
    bench.add_argument("--threads", type=int, default=2,
                       help="jitnet's threads for the speed-up column (the rest is 1 thread)")
    bench.add_argument("--quick", action="store_true", help="tiny nets, one repeat: a smoke test")
    bench.add_argument("--plot", metavar="OUT.png", help="also plot GFLOP/s against edges (matplotlib)")
    _net_options(bench)
    _compile_options(bench)
    return parser


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}") from None
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text}")
    return value


def _command(sub, name, func, help_text, compiles=False):
    cmd = sub.add_parser(name, help=help_text, description=help_text[0].upper() + help_text[1:] + ".",
                         formatter_class=_HelpFormatter)
    cmd.set_defaults(command=func)
    cmd.add_argument("net", metavar="NET", help="a net file: .nal, .nam or .nel (or see --format)")
    _net_options(cmd)
    if compiles:
        _compile_options(cmd)
    return cmd


def _net_options(cmd):
    cmd.add_argument("--activation", metavar="CODE", default=None,
                     help="activation (hex code or name) for neurons the file gives none: a NAM's, or NEL "
                          "neurons without an act line; default: identity")
    cmd.add_argument("--format", choices=FORMATS, default=None,
                     help="the net file's format; default: from its extension")


def _compile_options(cmd):
    cmd.add_argument("--dtype", choices=DTYPES, default="float32",
                     help="the numbers the compiled code computes in")
    cmd.add_argument("--strategy", choices=STRATEGIES, default="auto",
                     help="the code generator (results are identical; auto picks the faster)")


def _load(args):
    """The net of `args.net`, warning when `--activation` changes nothing (the file has its own codes)."""
    from .activations import activation_code
    from .text.parse import parse
    net = parse(args.net, format=args.format, activation=args.activation)
    if args.activation is not None:
        other = 1 if activation_code(args.activation) == 0 else 0
        if np.array_equal(parse(args.net, format=args.format, activation=other).activations, net.activations):
            _warn(f"--activation {args.activation} is unused: {args.net} gives every neuron its own activation")
    return net


def _warn(message: str) -> None:
    print(f"jitnet: warning: {message}", file=sys.stderr)


def _compiled(args, **options):
    from .compiler import compile
    return compile(_load(args), dtype=args.dtype, strategy=args.strategy, **options)


def _eqs(args) -> int:
    from .text.equations import equations
    kind = "bwd" if args.bwd else "matrix" if args.matrix else "fwd"
    sys.stdout.write(equations(_load(args), kind, include_inputs=args.inputs))
    return 0


def dropped(net, fmt: str) -> List[str]:
    """What writing `net` as `fmt` leaves out (SPEC §3.3: only the NEL carries weights, outputs, ties)."""
    if fmt == "nel":
        return []
    lost = []
    used = _activation_counts(net)
    if fmt == "nam" and set(used) - {"identity"}:
        lost.append("the activations (" + ", ".join(f"{name}: {count}" for name, count in used.items()) + ")")
    if net.weights is not None:
        lost.append("the weights")
    if net.biases is not None:
        lost.append("the biases")
    if net.explicit_outputs:
        lost.append("the explicit outputs")
    if net.is_tied:
        lost.append("the ties")
    return lost


def _activation_counts(net) -> "collections.OrderedDict[str, int]":
    """Activation name -> how many non-input neurons use it, in code order."""
    is_input = np.zeros(net.n_neurons, dtype=bool)
    is_input[net.inputs] = True
    counts = np.bincount(net.activations[~is_input], minlength=len(ACTIVATIONS))
    return collections.OrderedDict((ACTIVATIONS[code].name, int(counts[code]))
                                   for code in np.flatnonzero(counts))


def _convert(args) -> int:
    from .text.write import write
    if args.output:
        _check_output(args.output, ("." + args.to,), f"--to {args.to}")
    net = _load(args)
    lost = dropped(net, args.to)
    if lost:
        what = f"--to {args.to} drops {_join(lost)}: the converted net computes something else"
        if args.strict:
            raise ValueError(f"{what} (--strict); use --to nel to keep them")
        _warn(f"{what}; use --to nel to keep them (--strict makes this an error)")
    text = write(net, args.to)
    if args.output:
        write_atomically(args.output, text)
    else:
        sys.stdout.write(text)
    return 0


def _join(items: List[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def _info(args) -> int:
    net = _load(args)
    fan_in = net.fan_in[net.fan_in > 0]
    fan_out = net.fan_out[net.fan_out > 0]
    lines = [("neurons", net.n_neurons), ("edges", net.n_edges), ("inputs", net.n_inputs),
             ("outputs", net.n_outputs), ("depth", int(net.depth.max()))]
    for name, value in lines:
        print(f"{name}: {value}")
    for name, values in (("fan-in", fan_in), ("fan-out", fan_out)):
        if len(values):
            print(f"{name}: min {values.min()} mean {values.mean():.2f} max {values.max()}")
        else:
            print(f"{name}: none")
    for name, value in (("n_edges", net.n_edges), ("n_weights", net.n_weights), ("n_biases", net.n_biases)):
        print(f"{name}: {value}")
    used = _activation_counts(net)
    print("activations: " + (", ".join(f"{name}: {count}" for name, count in used.items()) or "none"))
    print(f"weights: {'yes' if net.weights is not None else 'no'}")
    print(f"biases: {'yes' if net.biases is not None else 'no'}")
    explicit = " ".join(net.name(j) for j in net.outputs.tolist()) if net.explicit_outputs else "none"
    print(f"explicit outputs: {explicit}")
    tied = []
    if net.weight_ties is not None:
        tied.append(f"{net.n_edges} edges share {net.n_weights} weight parameters")
    if net.bias_ties is not None:
        tied.append(f"{int((net.bias_ties >= 0).sum())} biases share {net.n_biases} bias parameters")
    print(f"ties: {'; '.join(tied) or 'none'}")
    return 0


def _ir(args) -> int:
    cn = _compiled(args)
    sys.stdout.write(cn.ir_unoptimized if args.unoptimized else cn.ir_backward if args.backward else cn.ir)
    return 0


def _asm(args) -> int:
    sys.stdout.write(_compiled(args).asm)
    return 0


def _run(args) -> int:
    """SPEC §6: weights from --weights, else the .nel's own, else init(seed=0)."""
    x = _npy(args.input, "--input") if args.input else None
    cn = _compiled(args)
    if args.weights:
        w, b = _weights(args.weights, cn.net)
    elif cn.net.weights is not None:
        w, b = cn.net.weights, cn.net.biases
    else:
        w, b = cn.init(seed=0)
    if x is None:
        x = np.random.default_rng(0).uniform(-1.0, 1.0, cn.n_inputs)
    elif x.shape[-1:] != (cn.n_inputs,) or x.ndim not in (1, 2):
        raise ValueError(f"{args.input}: expected an array ({cn.n_inputs},) or (batch, {cn.n_inputs}), "
                         f"got shape {x.shape}")
    y = np.atleast_2d(cn.forward(x, w, b))
    if args.classes:
        sys.stdout.write("".join(f"{k}\n" for k in np.argmax(y, axis=1).tolist()))
    else:
        sys.stdout.write("".join(" ".join(repr(float(v)) for v in row) + "\n" for row in y))
    return 0


def _train(args) -> int:
    """SPEC §6: train on arrays x and y of --data, print each epoch's loss, write the trained .nel.

    The output file and the data are checked before compiling, so a mistake
    costs no training time. A .nel that carries weights (and biases) is
    trained on from them, as `run` would use them; otherwise training starts
    from init(seed).
    """
    from .optim import by_name
    from .text.write import write
    from .train import train
    _check_output(args.output, (".nel",), "jitnet train (it writes the trained weights as an edge list)")
    if args.plot:
        _check_folder(args.plot)
        _optional(lambda: _plot_module().check_plot_path(args.plot))
    x, y = _npz(args.data, "--data", ("x", "y"))
    cn = _compiled(args)
    try:
        w, b, history = train(cn, x, y, loss=args.loss, optimizer=by_name(args.optimizer, args.lr),
                              epochs=args.epochs, batch_size=args.batch_size, seed=args.seed,
                              w=cn.net.weights, b=cn.net.biases)
    except (ValueError, TypeError) as e:
        # train checks X (the file's x) and Y (its y) before the first step: name the file.
        raise type(e)(f"{args.data}: {e}") from None
    for k, loss in enumerate(history["loss"]):
        accuracy = f" accuracy {history['accuracy'][k]:.6g}" if "accuracy" in history else ""
        print(f"epoch {k + 1}/{args.epochs} loss {loss:.6g}{accuracy}")
    write_atomically(args.output, write(cn.net, "nel", weights=w, biases=b))
    if args.plot:
        _plot_module().plot_history(history, args.plot)
    return 0


def _plot_module():
    from . import plot
    return plot


def _draw(args) -> int:
    """SPEC §11: the picture of the net, the output checked before the net is read."""
    from .draw import RENDERED, draw
    _check_output(args.output, tuple("." + k for k in RENDERED + ("dot",)), "jitnet draw")
    net = _load(args)
    w = _weights(args.weights, net)[0] if args.weights else None
    _optional(lambda: draw(net, args.output, weights=w, max_edges=args.max_edges))
    return 0


def _export(args) -> int:
    """SPEC §9: every request checked before the net is read and before LLVM runs."""
    from .export import check_request, export
    _optional(lambda: check_request(args.output, args.dtype, args.name, args.cpu, args.shared))
    net = _load(args)
    w, b = _weights(args.weights, net) if args.weights else (None, None)
    for path in _optional(lambda: export(net, args.output, weights=w, biases=b, dtype=args.dtype, name=args.name,
                                         cpu=args.cpu, backward=args.backward, shared=args.shared)):
        print(path)
    return 0


def _optional(step):
    """Run `step`; a missing optional package or program becomes the CLI's one line and exit 2."""
    try:
        return step()
    except (ImportError, RuntimeError) as e:
        raise MissingTool(str(e)) from None


# --- files -----------------------------------------------------------------------------------------

def _check_output(path: str, extensions: Sequence[str], why: str) -> None:
    """Refuse, before any work, an output the command could not write or would write wrongly."""
    if os.path.splitext(path)[1].lower() not in extensions:
        raise ValueError(f"{path}: expected a {' or '.join(extensions)} file for {why}, got "
                         f"{os.path.splitext(path)[1] or 'no extension'}; name the output OUT{extensions[0]}")
    _check_folder(path)


def _check_folder(path: str) -> None:
    """Refuse an output path whose folder is missing or not writable, or that names a folder."""
    folder = os.path.dirname(path) or "."
    if not os.path.isdir(folder):
        raise ValueError(f"{path}: expected an existing folder, got no folder {folder}")
    if os.path.isdir(path):
        raise ValueError(f"{path}: expected a file name, got a folder")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise ValueError(f"{path}: expected a folder you can write to, got {folder} (permission denied)")


def _kind(path: str) -> str:
    """What a file holds, from its first bytes: "npy", "npz", "text" or "binary data"."""
    with open(path, "rb") as f:
        head = f.read(512)
    if head.startswith(b"\x93NUMPY"):
        return "npy"
    if head.startswith(b"PK\x03\x04") or head.startswith(b"PK\x05\x06"):
        return "npz"
    try:
        head.decode("utf-8")
    except UnicodeDecodeError:
        return "binary data"
    return "text"


_KIND_NAMES = {"npy": "a .npy array", "npz": "an .npz archive", "text": "a text file (CSV?)",
               "binary data": "binary data that is not numpy's"}


def _npy(path: str, flag: str) -> np.ndarray:
    """The numeric array of an .npy file, or a ValueError `FILE: expected ..., got ...`."""
    kind = _kind(path)
    if kind != "npy":
        hint = " (numpy.loadtxt then numpy.save converts a CSV)" if kind == "text" else ""
        raise ValueError(f"{path}: expected a .npy array (numpy.save) for {flag}, got {_KIND_NAMES[kind]}{hint}")
    try:
        a = np.load(path, allow_pickle=False)
    except ValueError:
        raise ValueError(f"{path}: expected a numeric .npy array for {flag}, got an object array") from None
    if a.dtype.kind not in "biuf":
        raise ValueError(f"{path}: expected a real numeric array for {flag}, got dtype {a.dtype}")
    return a


def _npz(path: str, flag: str, names: Sequence[str], optional: Sequence[str] = ()) -> List[Optional[np.ndarray]]:
    """The named arrays of an .npz (None for a missing optional one), or `FILE: expected ..., got ...`."""
    wanted = " and ".join(names) + "".join(f" (and optionally {name})" for name in optional)
    kind = _kind(path)
    if kind != "npz":
        raise ValueError(f"{path}: expected an .npz archive (numpy.savez) with arrays {wanted} for {flag}, "
                         f"got {_KIND_NAMES[kind]}")
    with np.load(path, allow_pickle=False) as data:
        missing = [name for name in names if name not in data.files]
        if missing:
            got = ", ".join(data.files) or "no arrays"
            raise ValueError(f"{path}: expected arrays {wanted} for {flag}, got {got}")
        arrays: List[Optional[np.ndarray]] = []
        for name in list(names) + list(optional):
            if name not in data.files:
                arrays.append(None)
                continue
            try:
                a = data[name]
            except ValueError:
                raise ValueError(f"{path}: expected a numeric array {name}, got an object array") from None
            if a.dtype.kind not in "biuf":
                raise ValueError(f"{path}: expected a real numeric array {name}, got dtype {a.dtype}")
            arrays.append(a)
        return arrays


def _weights(path: str, net):
    """`w` and `b` of a --weights archive, their lengths checked against the net."""
    w, b = _npz(path, "--weights", ("w",), ("b",))
    for name, a, n, per in (("w", w, net.n_weights, "weight"), ("b", b, net.n_biases, "bias")):
        if a is not None and a.shape != (n,):
            raise ValueError(f"{path}: expected {name} of shape ({n},), one per {per} of the net, "
                             f"got shape {a.shape}")
    return w, b


def _bench(args) -> int:
    """SPEC §6: one table of jitnet's throughput and its ratios to the other libraries."""
    from .bench import suite as bench
    for value, what in ((args.batch, "--batch"), (args.threads, "--threads")):
        if value is not None and value < 1:
            raise ValueError(f"{what} {value}: expected a positive integer")
    if args.plot is not None:
        bench.check_plot(args.plot)
    if args.net is None:
        bench.suite(batch=args.batch, threads=args.threads, quick=args.quick, plot_path=args.plot,
                    dtype=args.dtype, strategy=args.strategy)
        return 0
    print(bench.compare(_load(args), batch=bench.SUITE_BATCH if args.batch is None else args.batch,
                        threads=args.threads, dtype=args.dtype, strategy=args.strategy,
                        name=os.path.basename(args.net), quick=args.quick, plot_path=args.plot))
    return 0


if __name__ == "__main__":
    sys.exit(main())
