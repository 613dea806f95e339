"""The `jitnet` command: argv -> exit code (SPEC §6).

Only `main` catches user-facing errors: a malformed net, a missing file or a
bad argument prints one line on stderr and exits with status 2; anything else
is a bug and keeps its traceback (status 1).
"""

import argparse
import os
import sys

import numpy as np

from .errors import NetFormatError

FORMATS = ("nal", "nam", "nel")
OPTIMIZERS = ("sgd", "momentum", "rmsprop", "adam")


def main(argv=None) -> int:
    """Run the command line; returns the exit status."""
    args = _parser().parse_args(argv)
    try:
        return args.command(args)
    except (NetFormatError, OSError, ValueError, TypeError, KeyError) as e:
        message = " ".join(str(e).split()) if not isinstance(e, KeyError) else f"missing {e}"
        if isinstance(e, OSError) and e.filename is not None:
            message = f"{e.filename}: {e.strerror or message}"
        print(f"jitnet: {message}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="jitnet", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="name", required=True, metavar="COMMAND")

    eqs = _command(sub, "eqs", _eqs, "print ncc's equations (fwd by default)")
    kind = eqs.add_mutually_exclusive_group()
    kind.add_argument("--bwd", action="store_true", help="the complete backward pass")
    kind.add_argument("--matrix", action="store_true", help="ncc's weight block table")
    eqs.add_argument("--inputs", action="store_true", help="include the input neurons (fwd)")

    convert = _command(sub, "convert", _convert, "convert a net to another format")
    convert.add_argument("--to", required=True, choices=FORMATS)
    convert.add_argument("-o", "--output", help="output file (default: stdout)")

    _command(sub, "info", _info, "neurons, edges, inputs, outputs, depth, fan-in/out")

    ir = _command(sub, "ir", _ir, "print the LLVM IR", compiles=True)
    ir.add_argument("--unoptimized", action="store_true", help="the IR before any pass")
    _command(sub, "asm", _asm, "print the machine code", compiles=True)

    run = _command(sub, "run", _run, "run the forward pass", compiles=True)
    run.add_argument("--input", help=".npy of shape (n_inputs,) or (batch, n_inputs)")
    run.add_argument("--weights", help=".npz with arrays w and b")

    train = _command(sub, "train", _train, "train the weights and biases, write a .nel", compiles=True)
    train.add_argument("--data", required=True, help=".npz with arrays x (samples, n_inputs) and y (targets)")
    train.add_argument("-o", "--output", required=True, help="the trained net, an .nel file")
    train.add_argument("--loss", choices=("mse", "xent"), default="mse")
    train.add_argument("--optimizer", choices=OPTIMIZERS, default="adam")
    train.add_argument("--lr", type=float, default=0.001)
    train.add_argument("--epochs", type=int, default=10)
    train.add_argument("--batch-size", type=int, default=32)
    train.add_argument("--seed", type=int, default=0)

    bench = sub.add_parser("bench", help="throughput against numpy, scipy, torch, neat-python")
    bench.set_defaults(command=_bench)
    bench.add_argument("net", nargs="?", help="a net file; none: the whole benchmark suite")
    bench.add_argument("--batch", type=int, default=None,
                       help="batch size (default 4096; the suite: each net's own)")
    bench.add_argument("--threads", type=int, default=2,
                       help="jitnet's threads for the speed-up column (default 2; the rest is 1 thread)")
    bench.add_argument("--quick", action="store_true", help="tiny nets, one repeat: a smoke test")
    bench.add_argument("--plot", metavar="OUT.png", help="also plot GFLOP/s against edges (matplotlib)")
    _net_options(bench)
    _compile_options(bench)
    return parser


def _command(sub, name, func, help_text, compiles=False):
    cmd = sub.add_parser(name, help=help_text)
    cmd.set_defaults(command=func)
    cmd.add_argument("net", help="a .nal, .nam or .nel file")
    _net_options(cmd)
    if compiles:
        _compile_options(cmd)
    return cmd


def _net_options(cmd):
    cmd.add_argument("--activation", default=None,
                     help="activation for a NAM's neurons, or NEL neurons without an act line")
    cmd.add_argument("--format", choices=FORMATS, default=None, help="override the file extension")


def _compile_options(cmd):
    cmd.add_argument("--dtype", choices=("float32", "float64"), default="float32")
    cmd.add_argument("--strategy", choices=("auto", "ssa", "csr"), default="auto")


def _load(args):
    from .text.parse import parse
    return parse(args.net, format=args.format, activation=args.activation)


def _compiled(args, **options):
    from .compiler import compile
    return compile(_load(args), dtype=args.dtype, strategy=args.strategy, **options)


def _eqs(args) -> int:
    from .text.equations import equations
    kind = "bwd" if args.bwd else "matrix" if args.matrix else "fwd"
    sys.stdout.write(equations(_load(args), kind, include_inputs=args.inputs))
    return 0


def _convert(args) -> int:
    from .text.write import write
    text = write(_load(args), args.to)
    if args.output:
        with open(args.output, "w", encoding="utf-8", newline="\n") as f:
            f.write(text)
    else:
        sys.stdout.write(text)
    return 0


def _info(args) -> int:
    net = _load(args)
    fan_in = net.fan_in[net.fan_in > 0]
    fan_out = net.fan_out[net.fan_out > 0]
    lines = [("neurons", net.n_neurons), ("edges", net.n_weights), ("inputs", net.n_inputs),
             ("outputs", net.n_outputs), ("depth", int(net.depth.max()))]
    for name, value in lines:
        print(f"{name}: {value}")
    for name, values in (("fan-in", fan_in), ("fan-out", fan_out)):
        if len(values):
            print(f"{name}: min {values.min()} mean {values.mean():.2f} max {values.max()}")
        else:
            print(f"{name}: none")
    return 0


def _ir(args) -> int:
    cn = _compiled(args)
    sys.stdout.write(cn.ir_unoptimized if args.unoptimized else cn.ir)
    return 0


def _asm(args) -> int:
    sys.stdout.write(_compiled(args).asm)
    return 0


def _run(args) -> int:
    """SPEC §6: weights from --weights, else the .nel's own, else init(seed=0)."""
    cn = _compiled(args)
    if args.weights:
        with np.load(args.weights) as data:
            w, b = data["w"], data["b"]
    elif cn.net.weights is not None:
        w, b = cn.net.weights, cn.net.biases
    else:
        w, b = cn.init(seed=0)
    if args.input:
        x = np.load(args.input, allow_pickle=False)
    else:
        x = np.random.default_rng(0).uniform(-1.0, 1.0, cn.n_inputs)
    y = cn.forward(x, w, b)
    for row in np.atleast_2d(y):
        print(" ".join(repr(float(v)) for v in row))
    return 0


def _train(args) -> int:
    """SPEC §6: train on arrays x and y of --data, print each epoch's loss, write the trained .nel.

    A .nel that carries weights (and biases) is trained on from them, as `run`
    would use them; otherwise training starts from init(seed).
    """
    from .text.write import write
    from .train import train
    cn = _compiled(args)
    x, y = _arrays(args.data, ("x", "y"))
    w, b, history = train(cn, x, y, loss=args.loss, optimizer=_optimizer(args.optimizer, args.lr),
                          epochs=args.epochs, batch_size=args.batch_size, seed=args.seed,
                          w=cn.net.weights, b=cn.net.biases)
    for k, loss in enumerate(history["loss"]):
        accuracy = f" accuracy {history['accuracy'][k]:.4f}" if "accuracy" in history else ""
        print(f"epoch {k + 1}/{args.epochs} loss {loss:.4g}{accuracy}")
    with open(args.output, "w", encoding="utf-8", newline="\n") as f:
        f.write(write(cn.net, "nel", weights=w, biases=b))
    return 0


def _arrays(path, names):
    """The named arrays of an .npz file, or a ValueError naming the missing one."""
    data = np.load(path, allow_pickle=False)
    if not isinstance(data, np.lib.npyio.NpzFile):
        raise ValueError(f"{path}: expected an .npz archive with arrays {' and '.join(names)}")
    with data:
        for name in names:
            if name not in data.files:
                raise ValueError(f"{path}: no array {name!r}; expected arrays {' and '.join(names)}")
        return [data[name] for name in names]


def _optimizer(name: str, lr: float):
    """SPEC §6: `momentum` is SGD(lr, momentum=0.9); the others take their defaults but lr."""
    from .optim import SGD, Adam, RMSprop
    if name == "sgd":
        return SGD(lr)
    if name == "momentum":
        return SGD(lr, momentum=0.9)
    if name == "rmsprop":
        return RMSprop(lr)
    return Adam(lr)


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
