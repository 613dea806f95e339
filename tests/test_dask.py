"""jitnet.dask on a real LocalCluster of 2 worker processes on 127.0.0.1 (SPEC §12)."""

import os

import numpy as np
import pytest

import jitnet
from jitnet import nets

distributed = pytest.importorskip("distributed", reason="needs the dask extra: pip install -e '.[dask]'")
da = pytest.importorskip("dask.array")
jdask = pytest.importorskip("jitnet.dask")

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    cache = str(tmp_path_factory.mktemp("worker-cache"))
    old = os.environ.get("JITNET_CACHE_DIR")
    os.environ["JITNET_CACHE_DIR"] = cache  # NOTE: worker processes inherit it at start
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                       host="127.0.0.1", dashboard_address=None, silence_logs=40)
    with distributed.Client(cluster, timeout="60s") as c:
        yield c
    cluster.close(timeout=30)
    if old is None:
        os.environ.pop("JITNET_CACHE_DIR", None)
    else:
        os.environ["JITNET_CACHE_DIR"] = old


def _net_and_weights(dtype):
    net = nets.random_dag(8, 3, 60, fan_in=(2, 6), n_layers=3, activation=["relu", "tanh"], seed=4)
    cn = jitnet.compile(net, dtype=dtype)
    return cn, *cn.init(seed=1)


@pytest.mark.parametrize("chunks", [1000, 337, 64])
def test_forward_bit_identical_for_any_chunking(client, chunks):
    cn, w, b = _net_and_weights("float32")
    x = np.random.default_rng(0).normal(size=(1000, 8))
    y = jdask.forward(cn, da.from_array(x, chunks=(chunks, 4)), w, b).compute()
    assert np.array_equal(y, cn.forward(x, w, b))


@pytest.mark.parametrize("dtype,tol", [("float64", 1e-12), ("float32", 1e-5)])
def test_loss_and_grad_matches_in_process(client, dtype, tol):
    cn, w, b = _net_and_weights(dtype)
    rng = np.random.default_rng(1)
    x, t = rng.normal(size=(500, 8)), rng.normal(size=(500, 3))
    loss, dw, db = jdask.loss_and_grad(cn, da.from_array(x, chunks=128), da.from_array(t, chunks=128), w, b)
    ref_loss, ref_dw, ref_db = cn.loss_and_grad(x, w, b, t)
    assert loss == pytest.approx(ref_loss, rel=tol)
    assert np.max(np.abs(dw - ref_dw)) <= tol * (1 + np.max(np.abs(ref_dw)))
    assert np.max(np.abs(db - ref_db)) <= tol * (1 + np.max(np.abs(ref_db)))
    again = jdask.loss_and_grad(cn, da.from_array(x, chunks=128), da.from_array(t, chunks=128), w, b)
    assert again[0] == loss and np.array_equal(again[1], dw)


def test_population_across_workers(client):
    rng = np.random.default_rng(2)
    members = []
    for p in range(9):
        net = nets.random_dag(3, 2, int(rng.integers(2, 10)), fan_in=(1, 3), activation="tanh", seed=p)
        members.append(net.with_weights(rng.normal(size=net.n_weights), rng.normal(size=net.n_neurons)))
    x = rng.normal(size=(50, 3))
    y = jdask.evaluate_population(members, x, client=client, dtype="float64")
    assert np.array_equal(y, jitnet.compile_population(members, dtype="float64").forward(x))


def test_no_client_is_a_clear_error(monkeypatch):
    def no_client():
        raise ValueError("No clients found")
    monkeypatch.setattr(distributed, "get_client", no_client)
    with pytest.raises(ValueError, match="needs a dask.distributed client"):
        jdask.evaluate_population([nets.dense([3, 2])], np.zeros((1, 3)))


def _die_once(marker, x):
    if not os.path.exists(marker):
        open(marker, "w").close()
        os._exit(1)  # NOTE: the worker process dies mid-task; its nanny restarts it
    return x


def test_a_dead_worker_is_survived(client, tmp_path):
    import dask
    cn, w, b = _net_and_weights("float64")
    x = np.random.default_rng(3).normal(size=(300, 8))
    marker = str(tmp_path / "died")
    parts = [da.from_delayed(dask.delayed(_die_once)(marker, x[k:k + 100]), shape=(100, 8), dtype=x.dtype)
             for k in range(0, 300, 100)]
    y = jdask.forward(cn, da.concatenate(parts), w, b).compute()
    assert os.path.exists(marker)
    assert np.array_equal(y, cn.forward(x, w, b))


def test_each_worker_compiles_once_per_recipe(client):
    # NOTE: codes no other test uses, so the counts see this net's recipe alone.
    net = nets.random_dag(6, 2, 30, fan_in=(1, 4), n_layers=2, activation=["cube", "hat"], seed=9)
    cn = jitnet.compile(net, strategy="csr")
    w, b = cn.init(seed=0)
    client.wait_for_workers(2)
    before = client.run(jitnet.cache_info)
    x = np.random.default_rng(3).normal(size=(16 * 40, 6))
    y = jdask.forward(cn, da.from_array(x, chunks=(40, 6)), w, b).compute()
    assert np.array_equal(y, cn.forward(x, w, b))
    after = client.run(jitnet.cache_info)

    def loads(info):
        return 0 if info is None else info.compiles + info.cache_hits

    # NOTE: a worker the nanny restarted after an earlier test's kill may have joined
    # in between; it started from nothing, so it is held to the same count.
    built = {k: loads(after[k]) - loads(before.get(k)) for k in after}
    # NOTE: 16 tasks; building per task would count a compile or a disk-cache hit for each.
    assert all(n <= 1 for n in built.values()), built      # one recipe: the CSR forward


def test_repeated_population_calls_with_the_same_samples(client):
    members = [nets.random_dag(3, 2, 4, activation="tanh", seed=p) for p in range(4)]
    members = [m.with_weights(np.ones(m.n_weights), np.zeros(m.n_neurons)) for m in members]
    x = np.random.default_rng(5).normal(size=(20, 3))
    first = jdask.evaluate_population(members, x, client=client)
    for _ in range(5):
        assert np.array_equal(jdask.evaluate_population(members, x, client=client), first)


def test_the_dask_population_example_improves(client):
    import importlib.util
    from pathlib import Path
    path = Path(__file__).resolve().parent.parent / "examples" / "dask_population.py"
    spec = importlib.util.spec_from_file_location("dask_population", path)
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    best = example.evolve(client, generations=3)
    assert len(best) == 3 and best[-1] >= best[0]
