"""The machine's limits (jitnet/bench/limit.py): the gathered-edge kernel sums what it should; nets get a limit."""

import numpy as np
import pytest

from jitnet import nets
from jitnet.bench import limit


def gather_sums(rows, index, w, chains, passes):
    """What the kernel computes, in float64: chain c sums rows[index[e]] * w[e] over e = c mod chains."""
    wide = rows.astype(np.float64)[index] * w.astype(np.float64)[:, None]
    return np.stack([passes * wide[c::chains].sum(axis=0) for c in range(chains)])


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("chains", [1, 2, 3])
def test_the_edge_kernel_sums_gathered_rows_times_weights(dtype, chains):
    rng = np.random.default_rng(chains)
    lanes = limit.abi.precision(dtype).lanes
    rows = limit.aligned_rows(37, lanes, dtype)
    rows[:] = rng.normal(size=rows.shape)
    index = rng.integers(0, 37, size=60 * chains).astype(np.int32)
    w = rng.normal(size=len(index)).astype(dtype)
    got = limit.run_edges(rows, index, w, chains, passes=3)
    assert got.shape == (chains, lanes)
    tolerance = 1e-4 if dtype == "float32" else 1e-12
    np.testing.assert_allclose(got, gather_sums(rows, index, w, chains, 3), rtol=tolerance, atol=tolerance)


def test_the_edge_kernel_does_what_a_csr_edge_does():
    text = limit.edge_kernel_ir("float32", 32, 2)
    assert text.count('call <32 x float> @"llvm.fma.v32f32"') == 2
    assert "load <32 x float>" in text and "load i32" in text


def test_a_rate_comes_out_for_a_tile_size_and_a_narrower_tile():
    for lanes in (None, 16):
        rate = limit.edge_limit(300, lanes=lanes, edges_per_call=1 << 16, repeats=1)
        assert 0 < rate < 1e4


def test_a_dense_net_is_held_to_the_peak_and_a_sparse_one_to_less():
    assert limit.net_limit(nets.dense([20, 13, 7]), peak=100.0) == 100.0
    dag = nets.random_dag(16, 4, 60, fan_in=(2, 8), n_layers=3, seed=0)
    assert 0 < limit.net_limit(dag, peak=1e6, edges_per_call=1 << 16, repeats=1) < 1e6
