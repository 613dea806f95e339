"""Dense-block kernels: the plan's shared-set groups, and bit-identical results to the SSA tier."""

import numpy as np
import pytest
from helpers import random_values
from hypothesis import given, settings
from hypothesis import strategies as st
from strategies import blocky_nets, dags

from jitnet import compiler, nets, reference
from jitnet.compiler import compile
from jitnet.lower.abi import INPUT_CODE
from jitnet.lower.csr import Blocking, blocking
from jitnet.native.plan import forward_segments, reverse_segments, shared_groups


def _lists(ptr, index):
    return [tuple(index[ptr[j]:ptr[j + 1]].tolist()) for j in range(len(ptr) - 1)]


@settings(max_examples=40, deadline=None)
@given(net=st.one_of(blocky_nets(), dags()))
def test_shared_groups_are_exactly_the_identical_lists(net):
    for ptr, index in ((net.in_ptr, net.in_src), (net.out_ptr, net.out_dst)):
        lists = _lists(ptr, index)
        neurons = np.arange(net.n_neurons)
        group = shared_groups(ptr, index, neurons)
        for j in neurons:
            alike = [k for k in neurons if lists[k] == lists[j]]
            if not lists[j] or len(alike) < 2:
                assert group[j] == -1
            else:
                assert group[j] >= 0 and set(np.flatnonzero(group == group[j])) == set(alike)


@settings(max_examples=40, deadline=None)
@given(net=st.one_of(blocky_nets(), dags()))
def test_segments_partition_the_schedules(net):
    """Each segment: one depth and code; `shared` only where every list is identical."""
    ins, outs = _lists(net.in_ptr, net.in_src), _lists(net.out_ptr, net.out_dst)
    order, segs = forward_segments(net)
    assert sorted(order.tolist()) == np.flatnonzero(net.fan_in).tolist()
    rorder, rsegs = reverse_segments(net)
    forward_pair = (order, segs)
    assert sorted(rorder.tolist()) == list(range(net.n_neurons))
    for order, segs, lists, sign in ((*forward_pair, ins, 1), (rorder, rsegs, outs, -1)):
        assert segs[0, 0] == 0 and segs[-1, 1] == len(order)
        assert (segs[1:, 0] == segs[:-1, 1]).all()
        depth = [net.depth[order[s:e]] for s, e, _, _ in segs]
        assert all(len(set(d.tolist())) == 1 for d in depth)
        assert all(sign * a[0] <= sign * b[0] for a, b in zip(depth, depth[1:]))
        for start, stop, code, shared in segs:
            members = order[start:stop]
            codes = np.where(net.fan_in[members] == 0, INPUT_CODE, net.activations[members].astype(int))
            assert (codes == code).all()
            if shared:
                assert len({lists[j] for j in members}) == 1 and lists[members[0]]


def test_blocking_fits_the_register_files():
    assert blocking((16, 32), 32, 4) == Blocking(16, 6, 3, 2, 6, 4)    # AVX2, float32
    assert blocking((16, 32), 16, 8) == Blocking(8, 6, 3, 2, 6, 4)     # AVX2, float64
    assert blocking((16, 32), 8, 4) == Blocking(8, 8, 3, 2, 6, 3)     # AVX2, one-register tile
    assert blocking((32, 64), 32, 4) == Blocking(32, 8, 8, 2, 8, 5)    # AVX-512
    assert blocking((32, 64), 8, 4) == Blocking(8, 8, 8, 2, 8, 3)     # AVX-512, one-register tile


def _same(a, b):
    return all(u.tobytes() == v.tobytes() for u, v in zip(a, b))


@settings(max_examples=12, deadline=None)
@given(net=blocky_nets(), seed=st.integers(0, 1000), dtype=st.sampled_from(["float32", "float64"]),
       batch=st.sampled_from([1, 5, 37, 70]))
def test_blocks_are_bit_identical_to_ssa(net, seed, dtype, batch):
    """Forward (the one-register tile too, for batch <= 8) and backward, odd batch sizes."""
    csr, ssa = (compile(net, dtype=dtype, strategy=s) for s in ("csr", "ssa"))
    x, w, b, dy = random_values(net, batch, dtype, seed, csr.n_outputs)
    assert csr.forward(x, w, b).tobytes() == ssa.forward(x, w, b).tobytes()
    assert _same(csr.backward(x, w, b, dy), ssa.backward(x, w, b, dy))


@settings(max_examples=10, deadline=None)
@given(net=blocky_nets(), seed=st.integers(0, 1000))
def test_blocks_match_the_reference(net, seed):
    cn = compile(net, dtype="float64", strategy="csr")
    x, w, b, dy = random_values(net, 9, np.float64, seed, cn.n_outputs)
    np.testing.assert_allclose(cn.forward(x, w, b), reference.forward(net, x, w, b).y,
                               rtol=1e-12, atol=1e-12)
    for got, want in zip(cn.backward(x, w, b, dy), reference.vjp(net, x, w, b, dy)):
        np.testing.assert_allclose(got, want, rtol=1e-11, atol=1e-11)


@pytest.mark.parametrize("registers", [(32, 64), (16, 32), (16, 16)])
@pytest.mark.parametrize("kind", ["conv", "dag"])
def test_other_register_files_give_the_same_bits(monkeypatch, registers, kind):
    """The AVX-512, AVX2 and SSE blockings (run here on whatever the host has) change no bit: dense
    blocks of dw 8 x 2, 3 x 2 and 3 x 1, lone neurons' in-edges 8/4/1, 6/3/1 and 3/1 at a time."""
    net = (nets.conv2d(6, 6, (2, 8), kernel=3, padding=1) if kind == "conv"
           else nets.random_dag(12, 3, 40, fan_in=(1, 12), n_layers=3, seed=5))
    here = compile(net, strategy="csr", cache=False)
    monkeypatch.setattr(compiler, "vector_registers", lambda: registers)
    other = compile(net, strategy="csr", cache=False)
    for batch in (3, 45):
        x, w, b, dy = random_values(net, batch, "float32", batch, here.n_outputs)
        assert here.forward(x, w, b).tobytes() == other.forward(x, w, b).tobytes()
        assert _same(here.backward(x, w, b, dy), other.backward(x, w, b, dy))


def test_groups_are_sized_to_the_sections():
    """Small nets get the most tiles; a tile out of L2 still gets 4 while they fit 32 MB; a huge one 1."""
    from jitnet.lower import abi
    assert abi.tiles_per_group(300, 0.0) == abi.MAX_GROUP
    assert abi.tiles_per_group(25_000, 0.0) == 4        # 6.4 MB a tile: the 1e6-edge DAG
    assert abi.tiles_per_group(250_000, 0.0) == 1       # 64 MB a tile
    assert abi.tiles_per_group(8_506, 1.0) == 7         # 2.2 MB a tile, dense: the 16 MB budget


def test_a_dense_mlp_is_all_blocks():
    net = nets.dense([20, 13, 7])
    order, segs = forward_segments(net)
    assert segs[:, 3].all() and len(segs) == 2
    rorder, rsegs = reverse_segments(net)
    assert rsegs[:, 3].tolist() == [0, 1, 1]    # outputs have no out-set


@pytest.mark.parametrize("group", [1, 2, 3])
def test_groups_of_tiles_change_no_bit(monkeypatch, group):
    """dw taken once per group of tiles (first group from zero, last writes dw) = tile by tile."""
    from jitnet.lower import abi
    net = nets.conv2d(5, 5, (2, 7), kernel=3, padding=1)
    ssa = compile(net, strategy="ssa")
    monkeypatch.setattr(abi, "tiles_per_group", lambda *_: group)
    csr = compile(net, strategy="csr")
    assert csr._plan.grad_tiles == group
    for batch in (1, 100, 7 * 32):
        x, w, b, dy = random_values(net, batch, "float32", batch, csr.n_outputs)
        assert _same(csr.backward(x, w, b, dy), ssa.backward(x, w, b, dy))


@settings(max_examples=8, deadline=None)
@given(net=blocky_nets(), seed=st.integers(0, 1000), dtype=st.sampled_from(["float32", "float64"]))
def test_blocks_are_bit_identical_to_the_csr_tier_without_them(net, seed, dtype):
    """The same CSR code with no segment marked shared runs every neuron on the pair path."""
    import jitnet.native.plan
    blocked = compile(net, dtype=dtype, strategy="csr")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(jitnet.native.plan, "shared_groups", lambda ptr, index, neurons: np.full(len(neurons), -1))
        plain = compile(net, dtype=dtype, strategy="csr")
    assert not plain._plan.segments[:, 3].any()
    for batch in (3, 45):
        x, w, b, dy = random_values(net, batch, dtype, seed, blocked.n_outputs)
        assert blocked.forward(x, w, b).tobytes() == plain.forward(x, w, b).tobytes()
        assert _same(blocked.backward(x, w, b, dy), plain.backward(x, w, b, dy))


@settings(max_examples=10, deadline=None)
@given(net=st.one_of(blocky_nets(), dags()), seed=st.integers(0, 1000),
       dtype=st.sampled_from(["float32", "float64"]), batch=st.sampled_from([1, 5, 37, 70]))
def test_index_order_and_degree_order_give_the_same_bits(net, seed, dtype, batch):
    """The order of a segment's neurons (`pairs_by_degree`, chosen from the host's L2) changes no bit,
    forced both ways: forward (the one-register tile too, for batch <= 8) and backward."""
    import jitnet.native.plan
    compiled = {}
    for by_degree in (True, False):
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(jitnet.native.plan, "pairs_by_degree", lambda net, l2_bytes, pick=by_degree: pick)
            compiled[by_degree] = compile(net, dtype=dtype, strategy="csr")
    degree, index = compiled[True], compiled[False]
    x, w, b, dy = random_values(net, batch, dtype, seed, degree.n_outputs)
    assert degree.forward(x, w, b).tobytes() == index.forward(x, w, b).tobytes()
    assert _same(degree.backward(x, w, b, dy), index.backward(x, w, b, dy))


def test_segments_keep_index_order_when_a_tile_pass_leaves_l2():
    from jitnet.native.plan import Plan, cache_size_bytes, l2_cache_bytes, pairs_by_degree
    net = nets.random_dag(16, 4, 300, fan_in=(2, 30), n_layers=3, seed=1)
    pass_bytes = 2 * 128 * net.n_neurons + 8 * net.n_edges
    assert pairs_by_degree(net, 2 * pass_bytes) and not pairs_by_degree(net, 2 * pass_bytes - 1)
    for l2_bytes, by_degree in ((2 * pass_bytes, True), (0, False)):
        plan = Plan(net, net.outputs, l2_bytes)
        for start, stop, *_ in plan.segments:
            key = net.fan_in[plan.order[start:stop]] if by_degree else plan.order[start:stop]
            assert (np.diff(key) >= 0).all()
    assert (cache_size_bytes("1024K"), cache_size_bytes("2M"), cache_size_bytes("512"),
            cache_size_bytes("?")) == (1 << 20, 2 << 20, 512, None)
    assert l2_cache_bytes() >= 64 << 10
