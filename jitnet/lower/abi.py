"""The native call interface, defined once: (dtype, net sizes) -> entries, plan slots, scratch layouts.

The lowering writes functions that `native/` calls with raw pointers; a
one-sided change to either side compiles, runs and corrupts memory. So
everything both sides must agree on lives here, as data, and each side
derives its own view of it: the lowering its IR function types and section
pointers (`tile.py`, `grad.py`, `ssa.py`), `native/plan.py` the slot array it
fills, `native/runtime.py` its ctypes prototypes and scratch buffers. This
module imports nothing of llvmlite, so the runtime reads it without the
lowering.

- **Entries** (`ENTRIES`): name -> signature, a tuple of (argument, kind).
- **Plan** (`PLAN_*`): the indices of the 8-byte slots of the plan array,
  which holds the addresses of the net's index arrays and their counts, so a
  tier that reads the topology at run time is compiled once for every net
  with the same activation codes.
- **Precision** (`precision(dtype)`): per dtype, the IR scalar, item size,
  the tile's lanes, the one-register tile's lanes, the lanes of a dw/db
  partial sum and the intrinsic suffix.
- **Scratch** (`FORWARD_SCRATCH`, `BACKWARD_SCRATCH`): the sections of the
  scratch buffer each entry takes, in order, with their sizes as products of
  named counts; `scratch_offsets` evaluates them on ints (the runtime) or on
  IR values (the lowering), so both read one layout.
- **Policy**: tiles per group of the backward pass (`tiles_per_group`), the
  seed rows (`seed_rows`), the reverse schedule's input code.
"""

import functools
import operator
from typing import Any, Callable, Dict, NamedTuple, Tuple, TypeVar

import numpy as np

# -- entries --
# Argument kinds: a buffer of the net's dtype (a user's array: the `_objects`
# twin of a forward entry takes the numpy object itself), a 64-bit count,
# pointers to memory the runtime owns (scratch, the plan's slot array), and a
# buffer of a fixed type whatever the dtype (float64 targets, int64 classes,
# the float64 loss).
ARRAY, COUNT, SCRATCH, PLAN, DATA = "array", "count", "scratch", "plan", "data"

Signature = Tuple[Tuple[str, str], ...]

FORWARD_SIGNATURE: Signature = (("x", ARRAY), ("w", ARRAY), ("b", ARRAY), ("y", ARRAY), ("batch", COUNT),
                                ("tile", SCRATCH), ("plan", PLAN))
BACKWARD_SIGNATURE: Signature = (("x", ARRAY), ("w", ARRAY), ("b", ARRAY), ("dy", ARRAY), ("dx", ARRAY),
                                 ("dw", ARRAY), ("db", ARRAY), ("batch", COUNT), ("scratch", SCRATCH),
                                 ("plan", PLAN))
# The backward pass seeded from a loss: `target` is read as `loss_kind` says
# (`LOSS_KINDS`), the loss summed over the batch is written to `loss[0]`, no dx.
LOSS_AND_GRAD_SIGNATURE: Signature = (("x", ARRAY), ("w", ARRAY), ("b", ARRAY), ("target", DATA),
                                      ("loss_kind", COUNT), ("loss", DATA), ("dw", ARRAY), ("db", ARRAY),
                                      ("batch", COUNT), ("scratch", SCRATCH), ("plan", PLAN))

FORWARD = "jitnet_forward"
# The same pass on a one-register tile, for calls of a few samples.
FORWARD_NARROW = "jitnet_forward_narrow"
BACKWARD = "jitnet_backward"
LOSS_AND_GRAD = "jitnet_loss_and_grad"
# `<forward>_objects`: the forward entry taking numpy array objects for its ARRAY arguments.
OBJECTS_SUFFIX = "_objects"
# `<narrow forward>_checked`: the one-register forward taking the array objects and checking them
# itself (type, dtype, layout, every shape); it runs only calls of 1 .. narrow_lanes samples, on a
# tile on its own stack, and returns 0, or 1 without reading or writing anything for any other call.
CHECKED_SUFFIX = "_checked"
CHECKED_SIGNATURE: Signature = (("x", ARRAY), ("w", ARRAY), ("b", ARRAY), ("y", ARRAY), ("plan", PLAN))

ENTRIES: Dict[str, Signature] = {
    FORWARD: FORWARD_SIGNATURE,
    FORWARD + OBJECTS_SUFFIX: FORWARD_SIGNATURE,
    FORWARD_NARROW: FORWARD_SIGNATURE,
    FORWARD_NARROW + OBJECTS_SUFFIX: FORWARD_SIGNATURE,
    FORWARD_NARROW + CHECKED_SUFFIX: CHECKED_SIGNATURE,
    BACKWARD: BACKWARD_SIGNATURE,
    LOSS_AND_GRAD: LOSS_AND_GRAD_SIGNATURE,
}
# Entries that return a value (of this kind); the others return nothing.
RESULTS: Dict[str, str] = {FORWARD_NARROW + CHECKED_SUFFIX: COUNT}

# `loss_kind` of LOSS_AND_GRAD, by (loss, target form): "rows" are float64
# (batch, n_outputs) targets, "classes" int64 (batch,) class indices. 0 (not
# a loss) is the backward entry's own mode: seeds read from dy.
SEEDS_FROM_DY = 0
LOSS_KINDS: Dict[Tuple[str, str], int] = {("mse", "rows"): 1, ("xent", "rows"): 2, ("xent", "classes"): 3}

# -- plan slots --
PLAN_IN_PTR, PLAN_IN_SRC, PLAN_ORDER, PLAN_SEGS, PLAN_N_SEGS = 0, 1, 2, 3, 4
PLAN_INPUTS, PLAN_N_INPUTS, PLAN_OUTPUTS, PLAN_N_OUTPUTS = 5, 6, 7, 8
PLAN_N_NEURONS, PLAN_N_WEIGHTS, PLAN_OUT_PTR, PLAN_OUT_DST, PLAN_OUT_EDGE = 9, 10, 11, 12, 13
PLAN_SEED_ROW, PLAN_N_SEED_ROWS, PLAN_SEED_OF_OUTPUT = 14, 15, 16
# Byte offset of the data pointer inside a numpy array object (read by the `_objects` entries).
PLAN_DATA_OFFSET = 17
PLAN_REVERSE_ORDER, PLAN_REVERSE_SEGS, PLAN_N_REVERSE_SEGS = 18, 19, 20
PLAN_GRAD_TILES = 21
# The addresses of numpy's ndarray type and of the net's dtype object (read by the `_checked` entry).
PLAN_ARRAY_TYPE, PLAN_DESCR = 22, 23
PLAN_SLOTS = 24
# Segment code of the inputs in the reverse schedule: their Dn is dx.
INPUT_CODE = -1


# -- numpy's array object, as the `_checked` entry reads it --
# NOTE: CPython's object header puts the type at byte 8; numpy's array struct
# (PyArrayObject_fields, the same in numpy 1.x and 2.x) follows the data
# pointer with nd, dimensions, strides, base, descr and flags: these are byte
# offsets from the data pointer's field. `runtime.array_layout` checks every
# one of them on probe arrays before the entry is ever used.
OBJECT_TYPE = 8
ARRAY_ND, ARRAY_DIMS, ARRAY_DESCR, ARRAY_FLAGS = 8, 16, 40, 48
ARRAY_C_CONTIGUOUS, ARRAY_ALIGNED, ARRAY_WRITEABLE = 0x1, 0x100, 0x400
# The largest tile (n and z sections) the `_checked` entry puts on its stack.
CHECKED_TILE_BYTES = 256 << 10


# -- precision --
class Precision(NamedTuple):
    """How one dtype is laid out and spelled in the compiled code."""

    dtype: str          # the numpy name
    ir_type: str        # the IR scalar's spelling
    itemsize: int
    lanes: int          # samples per tile
    narrow_lanes: int   # samples per one-register tile
    partial_lanes: int  # lanes of a dw/db partial sum: PARTIAL_BYTES, the same on every CPU
    suffix: str         # of overloaded intrinsics, e.g. llvm.fma.v32f32

    @property
    def f64_items(self) -> int:
        """Elements of this dtype that one float64 takes (a scratch section of doubles)."""
        return 8 // self.itemsize


# Bytes of one dw/db partial sum, whatever the host: an exported object must
# sum dw in compile()'s order on every CPU (one AVX-512 register, two AVX2 ones).
PARTIAL_BYTES = 64
# NOTE: 32 float32 or 16 float64 lanes: two 512-bit vectors (four 256-bit on
# AVX2), enough independent FMA chains per neuron to hide most of its latency.
PRECISIONS: Dict[str, Precision] = {
    "float32": Precision("float32", "float", 4, 32, 8, PARTIAL_BYTES // 4, "f32"),
    "float64": Precision("float64", "double", 8, 16, 4, PARTIAL_BYTES // 8, "f64"),
}
TILE_ALIGN = 64


def precision(dtype) -> Precision:
    """The record of `dtype` (a name or numpy dtype); a ValueError naming the choices otherwise."""
    name = getattr(dtype, "name", dtype)
    if name not in PRECISIONS:
        raise ValueError(f"dtype={dtype!r}; expected one of {', '.join(PRECISIONS)}")
    return PRECISIONS[name]


# -- scratch layouts --
# Each section: (name, factors); its size in elements of the dtype is the
# product of the factors: ints, names of counts (the plan's n_neurons,
# n_weights, n_seed_rows, n_outputs, group; the precision's lanes,
# partial_lanes, and f64_items, the elements of the dtype one float64 takes),
# or a layout (its size).
Layout = Tuple[Tuple[str, Tuple], ...]

# The forward tile: n [N x L], then z [N x L] (a tier may keep pre-activations there).
FORWARD_SCRATCH: Layout = (("n", ("n_neurons", "lanes")), ("z", ("n_neurons", "lanes")))
# The backward pass: G tiles' forward scratch (n | z, then Dz) | seeds [S x L]
# | a fused loss's float64 rows of the tile: targets [K x L], exps [K x L]
# | dw partials [W x P] | db partials [N x P] | weights in out-edge order [W].
BACKWARD_SCRATCH: Layout = (("sections", ("group", FORWARD_SCRATCH)),
                            ("seeds", ("n_seed_rows", "lanes")),
                            ("targets", ("n_outputs", "lanes", "f64_items")),
                            ("exps", ("n_outputs", "lanes", "f64_items")),
                            ("dw_part", ("n_weights", "partial_lanes")),
                            ("db_part", ("n_neurons", "partial_lanes")),
                            ("w_out", ("n_weights",)))

T = TypeVar("T")


def scratch_offsets(layout: Layout, value: Callable[[object], T], mul: Callable[[T, T], T] = operator.mul,
                    add: Callable[[T, T], T] = operator.add) -> Dict[str, T]:
    """{section: offset in elements} of `layout`, plus "size"; `value(factor)` gives each factor.

    With ints it sizes the buffer; with IR values and the builder's mul and
    add it gives the lowering its section pointers: one layout for both.
    """
    def size(factor):
        return scratch_offsets(factor, value, mul, add)["size"] if isinstance(factor, tuple) else value(factor)

    offsets: Dict[str, T] = {}
    at = None    # NOTE: no `0 + size` for the first section: the IR stays as short as before
    for name, factors in layout:
        offsets[name] = value(0) if at is None else at
        total = functools.reduce(mul, (size(f) for f in factors))
        at = total if at is None else add(at, total)
    offsets["size"] = value(0) if at is None else at
    return offsets


def scratch_size(layout: Layout, dtype, **counts: int) -> int:
    """Elements of scratch an entry needs for `counts` (n_neurons=..., ...)."""
    p = precision(dtype)
    known: Dict[Any, int] = dict(counts, lanes=p.lanes, partial_lanes=p.partial_lanes, f64_items=p.f64_items)
    return scratch_offsets(layout, lambda f: f if isinstance(f, int) else known[f])["size"]


# -- policy --
# NOTE: measured on Zen 3 (512 KB L2, 32 MB L3), batch 4096: groups of 8
# tiles took the backward pass of dense MLPs from 4.5-5.7x their forward time
# to 2.8-3.3x; random DAGs, whose rows are gathered, were best with 2 (dw
# gathers from every section of the group), ~1.5 MB of sections. Remeasured
# on an Intel AVX-512 host (2 MB L2) after the partial sums grew to 64 bytes
# (twice the traffic per group): the 1e5-edge DAG best at 4 tiles (2.6 MB,
# 4.0x its forward, 4.5x at 2), the conv net at 8 (3.5x; 4.0x at 2, 3.6x at
# 4), dense MLPs at 8-16; so 3 MB and 16 MB. A net whose one tile's sections
# are already far out of L2 (the 1e6-edge DAG: 6.4 MB) gathers from L3 at any
# G, and there the partial sums' traffic decides: 6.0x its forward at 1 tile,
# 4.9x at 2, 4.5x at 4, 5.9x at 8; so at least 4 tiles while they take at
# most 32 MB.
SPARSE_GROUP_BYTES = 3 << 20
DENSE_GROUP_BYTES = 16 << 20
MAX_GROUP = 8
MIN_GROUP, MIN_GROUP_BYTES = 4, 32 << 20


def tiles_per_group(n_neurons: int, dense_share: float) -> int:
    """Tiles per group of the backward pass for a net of `n_neurons` with `dense_share` of its edges
    in dense blocks (a tile row is 128 bytes in both dtypes)."""
    budget = SPARSE_GROUP_BYTES + dense_share * (DENSE_GROUP_BYTES - SPARSE_GROUP_BYTES)
    tile = 2 * n_neurons * 128
    tiles = int(budget) // tile
    if MIN_GROUP * tile <= MIN_GROUP_BYTES:
        tiles = max(tiles, MIN_GROUP)
    return max(1, min(MAX_GROUP, tiles))


def seed_rows(outputs, n_neurons: int) -> np.ndarray:
    """Each neuron's row in the seed section (-1 when not read out), by ascending neuron.

    A neuron read out twice has one row, and both of its dy columns add into it.
    """
    unique = np.unique(np.asarray(outputs, dtype=np.int64))
    rows = np.full(n_neurons, -1, dtype=np.int32)
    rows[unique] = np.arange(len(unique), dtype=np.int32)
    return rows
