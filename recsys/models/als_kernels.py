"""The CPU kernel of :mod:`recsys.models.als`: one conjugate-gradient half-step, compiled by numba.

On the CPU, vectorised torch spends most of an ALS step gathering ``pairs × factors`` copies of
the item vectors and scattering them back; a compiled loop over each user's items keeps the
vectors in cache and needs no temporaries, which is several times faster on two cores. Users are
independent, so the loop runs in parallel (``prange``) and stays deterministic. Compiled code is
cached on disk (``NUMBA_CACHE_DIR``), so only the first process pays for compiling.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["cg_half_step"]

_KERNEL = None


def _compile() -> Any:
    import numba

    @numba.njit(parallel=True, fastmath=True, cache=True)
    def kernel(indptr, indices, x, y, gram, alpha, steps):
        n, f = x.shape
        zero = np.float32(0.0)
        conf = np.float32(1.0) + alpha
        tiny = np.float32(1e-20)
        for u in numba.prange(n):
            lo, hi = indptr[u], indptr[u + 1]
            xu = x[u].copy()
            r = -np.dot(gram, xu)  # r = b - A x, with b = (1 + alpha) Σ y_i
            for k in range(lo, hi):
                yi = y[indices[k]]
                dot = zero
                for a in range(f):
                    dot += yi[a] * xu[a]
                w = conf - alpha * dot
                for a in range(f):
                    r[a] += w * yi[a]
            p = r.copy()
            rs = zero
            for a in range(f):
                rs += r[a] * r[a]
            for _ in range(steps):
                if rs < tiny:
                    break
                ap = np.dot(gram, p)
                for k in range(lo, hi):
                    yi = y[indices[k]]
                    dot = zero
                    for a in range(f):
                        dot += yi[a] * p[a]
                    dot *= alpha
                    for a in range(f):
                        ap[a] += dot * yi[a]
                pap = zero
                for a in range(f):
                    pap += p[a] * ap[a]
                if pap <= tiny:
                    break
                step = rs / pap
                rs_new = zero
                for a in range(f):
                    xu[a] += step * p[a]
                    r[a] -= step * ap[a]
                    rs_new += r[a] * r[a]
                for a in range(f):
                    p[a] = r[a] + (rs_new / rs) * p[a]
                rs = rs_new
            x[u] = xu

    return kernel


def cg_half_step(indptr: np.ndarray, indices: np.ndarray, x: np.ndarray, y: np.ndarray,
                 reg: float, alpha: float, steps: int) -> None:
    """Improve every row of ``x`` (float32, rows × f, in place) given ``y`` (cols × f) and the
    binary CSR pattern ``indptr, indices`` (rows × cols), by ``steps`` CG steps per row."""
    global _KERNEL
    if _KERNEL is None:
        _KERNEL = _compile()
    gram = (y.T.astype(np.float64) @ y.astype(np.float64)).astype(np.float32)
    gram[np.diag_indices_from(gram)] += np.float32(reg)
    _KERNEL(indptr.astype(np.int64), indices.astype(np.int32), x, np.ascontiguousarray(y), gram,
            np.float32(alpha), int(steps))
