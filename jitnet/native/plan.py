"""What compiled code reads about a net: `Net` + outputs -> `Plan` (index arrays and their slot array).

The slots, their meaning and the tile-group policy are `lower/abi.py`'s; this
module only fills them.

The CSR tier's machine code does not depend on the topology: it walks the
plan's arrays. Besides the CSC/CSR arrays the plan holds two schedules cut
into *segments* `(start, stop, code, shared)`:

- forward segments over `order`: non-input neurons of one depth and one
  activation code; `shared` = 1 when all of them have one identical in-set
  (a dense layer, one position of a conv layer), which the dense-block
  kernel exploits: one load of a source row feeds several neurons.
- reverse segments over `reverse_order`: every neuron by descending depth,
  inputs last (code `INPUT_CODE`); `shared` = 1 when all have one identical
  out-set, so one load of a target's Dz row feeds several neurons' Dn.

Neurons of one depth never feed each other, so a segment's neurons are
independent and their order inside it changes no result. That order is a
choice for speed (`pairs_by_degree`): by fan-in (fan-out) where a tile's pass
over the net fits in L2, by neuron index where it does not.
"""

import functools
from pathlib import Path
from typing import Optional

import numpy as np

from ..lower import abi
from ..lower.abi import INPUT_CODE
from ..net import ranges

# NOTE: a tile row is 128 bytes in both dtypes (`abi.PRECISIONS`); where the host does not say
# its L2 size, a common one.
TILE_ROW_BYTES = 128
DEFAULT_L2_BYTES = 512 << 10


class Plan:
    """The index arrays a compiled pass reads, and the slot array pointing at them."""

    def __init__(self, net, outputs: np.ndarray, l2_bytes: Optional[int] = None):
        by_degree = pairs_by_degree(net, l2_cache_bytes() if l2_bytes is None else l2_bytes)
        self.order, self.segments = forward_segments(net, by_degree)
        self.reverse_order, self.reverse_segments = reverse_segments(net, by_degree)
        self.in_ptr = np.ascontiguousarray(net.in_ptr, dtype=np.int64)
        self.in_src = net.in_src.astype(np.int32)
        self.inputs = net.inputs.astype(np.int32)
        self.outputs = outputs.astype(np.int32)
        self.out_ptr = np.ascontiguousarray(net.out_ptr, dtype=np.int64)
        self.out_dst = net.out_dst.astype(np.int32)
        self.out_edge = net.out_edge.astype(np.int32)
        self.seed_row = abi.seed_rows(outputs, net.n_neurons)
        self.seed_of_output = self.seed_row[outputs].astype(np.int32)
        self.n_seed_rows = int(self.seed_row.max(initial=-1)) + 1
        self.grad_tiles = abi.tiles_per_group(net.n_neurons, dense_share(net, self.order, self.segments))
        self.slots = np.zeros(abi.PLAN_SLOTS, dtype=np.uint64)
        for slot, value in ((abi.PLAN_IN_PTR, self.in_ptr), (abi.PLAN_IN_SRC, self.in_src),
                            (abi.PLAN_ORDER, self.order), (abi.PLAN_SEGS, self.segments),
                            (abi.PLAN_INPUTS, self.inputs), (abi.PLAN_OUTPUTS, self.outputs),
                            (abi.PLAN_OUT_PTR, self.out_ptr), (abi.PLAN_OUT_DST, self.out_dst),
                            (abi.PLAN_OUT_EDGE, self.out_edge), (abi.PLAN_SEED_ROW, self.seed_row),
                            (abi.PLAN_SEED_OF_OUTPUT, self.seed_of_output),
                            (abi.PLAN_REVERSE_ORDER, self.reverse_order),
                            (abi.PLAN_REVERSE_SEGS, self.reverse_segments)):
            self.slots[slot] = value.ctypes.data
        for slot, count in ((abi.PLAN_N_SEGS, len(self.segments)),
                            (abi.PLAN_N_INPUTS, len(self.inputs)),
                            (abi.PLAN_N_OUTPUTS, len(self.outputs)),
                            (abi.PLAN_N_NEURONS, net.n_neurons),
                            (abi.PLAN_N_WEIGHTS, net.n_edges),
                            (abi.PLAN_N_SEED_ROWS, self.n_seed_rows),
                            (abi.PLAN_N_REVERSE_SEGS, len(self.reverse_segments)),
                            (abi.PLAN_GRAD_TILES, self.grad_tiles)):
            self.slots[slot] = count
        self.address = self.slots.ctypes.data


def dense_share(net, order, segments) -> float:
    """The share of the net's edges that are in-edges of forward segments with a shared in-set."""
    if net.n_edges == 0:
        return 0.0
    shared = np.repeat(segments[:, 3] == 1, segments[:, 1] - segments[:, 0])
    return float(net.fan_in[order[shared]].sum()) / net.n_edges


@functools.lru_cache(maxsize=None)
def l2_cache_bytes() -> int:
    """Bytes of the host's L2 (data or unified) cache of CPU 0, from Linux's sysfs, else DEFAULT_L2_BYTES."""
    for index in sorted(Path("/sys/devices/system/cpu/cpu0/cache").glob("index*")):
        try:
            level, kind, size = ((index / name).read_text().strip() for name in ("level", "type", "size"))
        except OSError:
            continue
        found = cache_size_bytes(size) if level == "2" and kind in ("Data", "Unified") else None
        if found is not None:
            return found
    return DEFAULT_L2_BYTES


def cache_size_bytes(size: str) -> Optional[int]:
    """sysfs's cache size ("1024K", "2M", "512") in bytes; None when unreadable."""
    scale = {"K": 1 << 10, "M": 1 << 20}.get(size[-1:], 1)
    digits = size[:-1] if scale > 1 else size
    return int(digits) * scale if digits.isdigit() else None


def pairs_by_degree(net, l2_bytes: int) -> bool:
    """Whether the schedules sort a segment's neurons by degree (True) or keep index order (False).

    NOTE: by degree, the CSR tier's pairs have similar fan-ins and little of
    their work runs as a lone chain (half the chains in flight); by index, the
    pairs read `in_ptr`/`in_src` and `w` in ascending address order, which the
    hardware prefetcher streams. Where a tile's pass over the net (its n and z
    rows and 8 bytes of index and weight per edge) fits in L2 those reads hit
    anyway and degree order wins; beyond it each pair started with a chain of
    dependent misses (in_ptr, in_src, row): index order measured 1.8x the
    forward of the 1e6-edge random DAG on Zen 4 (7.4 -> 13.2 GFLOP/s, medians
    of 5 interleaved rounds) and 1.2-1.8x at 1e5. The pass must fit in half of
    L2, which also holds the stack, the weights' other streams and the
    prefetched lines: on an Intel host with 2 MB of L2 the 1e5-edge DAG (a
    1.47 MB pass) ran 6-9% faster forward and 12% faster backward in index
    order (two interleaved rounds), the 1e4 DAG (160 KB) within 5% either way.
    """
    return 2 * TILE_ROW_BYTES * net.n_neurons + 8 * net.n_edges <= l2_bytes // 2


def forward_segments(net, by_degree: bool = True):
    """(order, segments) of the non-input neurons: by depth, code, shared in-set, then fan-in
    when `by_degree` (see `pairs_by_degree`), then index.

    NOTE: sorting the rest by fan-in pairs neurons of similar fan-in (the CSR
    tier runs two at a time), so little of a pair's work runs as a lone chain.
    """
    neurons = np.flatnonzero(net.fan_in > 0)
    group = shared_groups(net.in_ptr, net.in_src, neurons)
    return _cut(neurons, net.depth[neurons], net.activations[neurons].astype(np.int64), group,
                _degree(net.fan_in[neurons], by_degree))


def reverse_segments(net, by_degree: bool = True):
    """(order, segments) of every neuron for the reverse pass: by descending depth, inputs last,
    then code, shared out-set, fan-out when `by_degree`, index."""
    neurons = np.arange(net.n_neurons)
    codes = net.activations.astype(np.int64)
    codes[net.inputs] = INPUT_CODE
    group = shared_groups(net.out_ptr, net.out_dst, neurons)
    return _cut(neurons, -net.depth.astype(np.int64), codes, group, _degree(net.fan_out, by_degree))


def _degree(degree, by_degree: bool):
    """The sort key `_cut` gets for degree: the degrees, or zeros to keep index order."""
    return degree if by_degree else np.zeros_like(degree)


def _cut(neurons, level, codes, group, degree):
    """Sort by (level, code, shared group, degree, index); cut where level, code or group changes."""
    shared = group >= 0
    by = np.lexsort((neurons, degree, group, shared, codes, level))
    neurons, level, codes, group, shared = (a[by] for a in (neurons, level, codes, group, shared))
    if len(neurons) == 0:
        return neurons.astype(np.int32), np.zeros((0, 4), dtype=np.int64)
    change = (np.diff(level) != 0) | (np.diff(codes) != 0) | (np.diff(shared) != 0)
    change |= shared[1:] & (np.diff(group) != 0)
    starts = np.concatenate([[0], np.flatnonzero(change) + 1])
    stops = np.append(starts[1:], len(neurons))
    return neurons.astype(np.int32), np.stack(
        [starts, stops, codes[starts], shared[starts].astype(np.int64)], axis=1)


def shared_groups(ptr, index, neurons, min_size: int = 2) -> np.ndarray:
    """For each of `neurons`, an id shared by exactly the neurons with an identical, non-empty
    adjacency list `index[ptr[j]:ptr[j+1]]` (-1 for none: no list, or fewer than `min_size` alike).

    NOTE: candidates are found by hashing each list (two random 64-bit sums),
    then verified element by element, so a hash collision cannot merge lists.
    """
    neurons = np.asarray(neurons, dtype=np.int64)
    group = np.full(len(neurons), -1, dtype=np.int64)
    counts = (ptr[neurons + 1] - ptr[neurons]).astype(np.int64)
    has = np.flatnonzero(counts > 0)
    if len(has) < min_size:
        return group
    rng = np.random.default_rng(0x6A17)
    n_ids = int(index.max(initial=0)) + 1
    keys = [counts[has].astype(np.uint64)]
    for _ in range(2):
        salt = rng.integers(0, 2**63, size=n_ids, dtype=np.uint64) | np.uint64(1)
        total = np.concatenate([[np.uint64(0)], np.cumsum(salt[index], dtype=np.uint64)])
        keys.append(total[ptr[neurons[has] + 1]] - total[ptr[neurons[has]]])
    by = np.lexsort(keys[::-1])
    sorted_keys = np.stack([k[by] for k in keys], axis=1)
    new = np.concatenate([[True], (sorted_keys[1:] != sorted_keys[:-1]).any(axis=1)])
    label = np.cumsum(new) - 1
    size = np.bincount(label)
    keep = size[label] >= min_size
    members = has[by][keep]
    label = label[keep]
    if len(members) == 0:
        return group
    leader = members[np.concatenate([[0], np.flatnonzero(np.diff(label)) + 1])]
    leader_of = leader[np.cumsum(np.concatenate([[1], np.diff(label) != 0])) - 1]
    starts, lead_starts = ptr[neurons[members]], ptr[neurons[leader_of]]
    lengths = counts[members]
    mine = index[ranges(starts, starts + lengths)]
    theirs = index[ranges(lead_starts, lead_starts + lengths)]
    member_of_edge = np.repeat(np.arange(len(members)), lengths)
    differs = np.bincount(member_of_edge, weights=mine != theirs, minlength=len(members)) > 0
    bad_labels = np.unique(label[differs])
    ok = ~np.isin(label, bad_labels)
    group[members[ok]] = label[ok]
    return group
