"""Beyond one machine: compiled nets over dask arrays and `dask.distributed` clusters (SPEC §12).

A `CompiledNet` pickles without its machine code, so a task carries only the
net and its settings; unpickling on a worker compiles again, and since the
CSR tier's machine code depends only on the dtype and activation codes, each
worker compiles (or loads from its disk cache) once per code recipe and
reuses it in memory for every later task (`jitnet.cache_info()` there shows
it). Every sample is computed alone, so any chunking gives the same bits as
one in-process call; gradient sums are added in chunk order, so they are
reproducible.

Needs the extra `dask` (`dask[array]` and `distributed`).
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from .native.runtime import CompiledNet
from .net import Net


def _dask():
    try:
        import dask
        import dask.array as da
    except ImportError:
        raise ImportError("jitnet.dask needs dask: python -m pip install 'jitnet[dask]'") from None
    return dask, da


def forward(cn: CompiledNet, X: Any, w: Any = None, b: Any = None):
    """`cn.forward` over a dask array `X` (batch, n_inputs) chunked along the batch: a dask array.

    Chunks along the feature axis are merged into one first.
    """
    _, da = _dask()
    X = _samples(da, X, cn.n_inputs, "X")
    return X.map_blocks(_forward_chunk, cn, w, b, dtype=cn.dtype,
                        chunks=(X.chunks[0], (cn.n_outputs,)))


def _forward_chunk(x: np.ndarray, cn: CompiledNet, w, b) -> np.ndarray:
    return cn.forward(x, w, b)


def loss_and_grad(cn: CompiledNet, X: Any, T: Any, w: Any = None, b: Any = None, loss: str = "mse"):
    """`(loss, dw, db)` over dask arrays `X` and `T` chunked alike along the batch.

    Each chunk's loss and gradients are computed where the chunk lives; the
    sums are then added in chunk order (a fixed order, so the result is
    reproducible; it differs from one in-process call only by that order).
    """
    dask, da = _dask()
    X = _samples(da, X, cn.n_inputs, "X")
    T = da.asarray(T)
    if T.shape[0] != X.shape[0]:
        raise ValueError(f"T has {T.shape[0]} rows; expected {X.shape[0]}, one per row of X")
    T = T.rechunk((X.chunks[0],) + tuple((n,) for n in T.shape[1:]))
    parts = [dask.delayed(_loss_chunk)(cn, x, t, w, b, loss)
             for x, t in zip(X.to_delayed().ravel(), T.to_delayed().ravel())]
    results = dask.compute(*parts)
    total, dw, db = 0.0, None, None
    for value, dw_k, db_k in results:
        total += value
        dw = dw_k.copy() if dw is None else dw + dw_k
        db = db_k.copy() if db is None else db + db_k
    if dw is None:
        return cn.loss_and_grad(np.zeros((0, cn.n_inputs)), w, b, np.zeros((0,) + T.shape[1:],
                                                                            dtype=T.dtype), loss)
    return total, dw, db


def _loss_chunk(cn: CompiledNet, x, t, w, b, loss):
    return cn.loss_and_grad(x, w, b, t, loss)


def evaluate_population(nets: Sequence[Net], x: Any, client: Any = None, dtype: str = "float32"):
    """`compile_population(nets, dtype).forward(x)` with the nets spread over the workers.

    `x` is sent once per worker; each worker evaluates a contiguous share of
    the nets as one population. `client=None` uses the current
    `dask.distributed` client.
    """
    _dask()
    from distributed import get_client

    if client is None:
        try:
            client = get_client()
        except ValueError:
            raise ValueError("evaluate_population needs a dask.distributed client: pass client= "
                             "or create one (distributed.Client(...)) first") from None
    nets = list(nets)
    if not nets:
        raise ValueError("evaluate_population needs at least one net, got an empty list")
    workers = sorted(client.scheduler_info()["workers"])
    shares = np.array_split(np.arange(len(nets)), min(len(workers), len(nets)))
    # NOTE: hash=False: a new key per call, so a repeated call with the same samples never races
    # the release of the previous call's copy (dask then cancels tasks for "lost dependencies").
    samples = client.scatter(np.asarray(x), broadcast=True, hash=False)
    futures = [client.submit(_population_share, [nets[p] for p in share], samples, dtype,
                             workers=[worker], allow_other_workers=True, pure=False)
               for share, worker in zip(shares, workers)]
    return np.concatenate(client.gather(futures), axis=0)


def _population_share(nets: list, x: np.ndarray, dtype: str) -> np.ndarray:
    from .population import compile_population
    return compile_population(nets, dtype=dtype).forward(x)


def _samples(da, X, n_inputs: int, name: str):
    X = da.asarray(X)
    if X.ndim != 2 or X.shape[1] != n_inputs:
        raise ValueError(f"{name} has shape {X.shape}; expected (batch, {n_inputs})")
    return X.rechunk({1: -1}) if len(X.chunks[1]) > 1 else X
