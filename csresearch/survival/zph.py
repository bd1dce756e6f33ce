"""Proportional-hazards test of a Cox model, as R's ``survival::cox.zph`` (survival >= 3) does it.

The Grambsch-Therneau score test: add to each coefficient ``beta_j`` a time-varying part
``gamma_j g(t)`` and test ``gamma = 0`` by the score test at ``(beta_hat, gamma = 0)``.
With the event times in order and, at each event time, the risk-set mean ``m(t)`` and
variance ``V(t)`` of the covariates (weighted by the risk scores ``exp(x beta_hat)``):

* score of ``gamma``: ``U = sum_i g(t_i) (x_i - m(t_i))`` over the events;
* information ``I = sum_t d(t) [[V, g V], [g V, g^2 V]]`` (a ``2p x 2p`` matrix: the
  ``beta`` block, the cross block and the ``gamma`` block), with ``d(t)`` the deaths at t;
* statistic ``[0, U_J] I_K^{-1} [0, U_J]'`` with ``K`` = all ``beta`` rows plus the
  ``gamma`` rows ``J`` of a term (all of a categorical term's dummies together, ``len(J)``
  degrees of freedom), and the same over every ``gamma`` row for the GLOBAL test.

Using the full information matrix (not the older approximation of lifelines'
``proportional_hazard_test``, which uses only ``V`` averaged over time) is what R does since
survival 3.0. ``g`` is the time transform centred on its mean over the events: ``"km"``
(``1 - S(t-)``, the left-continuous Kaplan-Meier of all rows, R's default), ``"rank"``
(average ranks of all times) or ``"identity"``. Ties follow the fit: Efron (lifelines and
R's default) spreads the ``d`` tied deaths over ``d`` sub-risk-sets holding ``k/d`` of them;
Breslow keeps them all in. Strata have their own risk sets; ``g`` is computed over all rows.

Example
-------
>>> from lifelines.datasets import load_rossi
>>> m = CoxModel(["fin", "age", "race", "wexp", "mar", "paro", "prio"])  # doctest: +SKIP
>>> ph_test(m.fit(load_rossi(), "week", "arrest"), transform="rank")  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from scipy.stats import chi2, rankdata

from csresearch.errors import DataValidationError

TRANSFORMS = ("km", "rank", "identity")


def time_transform(t: np.ndarray, e: np.ndarray, transform: str = "km") -> np.ndarray:
    """``g(t)`` of every row, centred on its mean over the events (as ``cox.zph``).

    Examples
    --------
    >>> time_transform(np.array([1.0, 2, 3]), np.array([1, 0, 1]), "identity").tolist()
    [-1.0, 0.0, 1.0]
    """
    t = np.asarray(t, dtype=float)
    e = np.asarray(e).astype(bool)
    if transform == "identity":
        g = t.copy()
    elif transform == "rank":
        g = rankdata(t, method="average")
    elif transform == "km":
        times = np.unique(t)
        d = np.bincount(np.searchsorted(times, t[e]), minlength=len(times)).astype(float)
        n_risk = len(t) - np.searchsorted(np.sort(t), times, side="left")
        s = np.cumprod(1.0 - d / n_risk)
        before = np.searchsorted(times, t, side="left")  # distinct times strictly before t
        g = 1.0 - np.concatenate([[1.0], s])[before]
    else:
        raise DataValidationError(f"time transform '{transform}' unknown; use one of {list(TRANSFORMS)}")
    return g - g[e].mean()


def _stratum_parts(X, t, e, r, w, g, efron):
    """Score of gamma and the information pieces of one stratum (arrays over its rows).

    Returns ``(u, weight, M, mw, mg)``: ``u`` the beta and gamma scores (2p); ``weight`` (n x 3) the
    per-row weights of ``r x x'`` in the three blocks (``sum_t c_t g_t^q S2(t)`` is
    ``X' diag(r * weight[:, q]) X``); the rows ``M`` of risk-set means, one per Efron sub-set,
    with their weights ``mw`` (deaths' weight / d) and ``mg`` (g at their time).
    """
    ev_times, inv = np.unique(t[e], return_inverse=True)
    k = len(ev_times)
    if k == 0:
        p = X.shape[1]
        return np.zeros(2 * p), np.zeros((len(t), 3)), np.zeros((0, p)), np.zeros(0), np.zeros(0)
    # per event time: sums over deaths (D) and over the rest of the risk set (R)
    d_cnt = np.bincount(inv, minlength=k).astype(float)
    d_w = np.bincount(inv, weights=w[e], minlength=k)
    D0 = np.bincount(inv, weights=r[e], minlength=k)
    D1 = np.stack([np.bincount(inv, weights=r[e] * X[e, j], minlength=k) for j in range(X.shape[1])], 1)
    # rows at risk at each event time (time >= t_j): cumulative from the last time backwards
    pos = np.searchsorted(ev_times, t, side="left")  # first event time >= t_i
    last = np.searchsorted(ev_times, t, side="right") - 1  # last event time <= t_i
    A0 = np.bincount(last[last >= 0], weights=r[last >= 0], minlength=k)[::-1].cumsum()[::-1]
    A1 = np.stack([np.bincount(last[last >= 0], weights=(r * X[:, j])[last >= 0], minlength=k)
                   for j in range(X.shape[1])], 1)[::-1].cumsum(0)[::-1]
    R0, R1 = A0 - D0, A1 - D1
    g_t = np.bincount(inv, weights=g[e], minlength=k) / d_cnt
    # Efron sub-sets: event time j contributes d_j terms with fractions f = 1/d, ..., d/d
    n_sub = d_cnt.astype(int) if efron else np.ones(k, dtype=int)
    j_of = np.repeat(np.arange(k), n_sub)
    f = np.concatenate([np.arange(1, n + 1) / n for n in n_sub])
    wt = d_w[j_of] / n_sub[j_of]
    S0 = R0[j_of] + f * D0[j_of]
    M = (R1[j_of] + f[:, None] * D1[j_of]) / S0[:, None]
    u1 = w[e] @ X[e] - wt @ M
    u2 = (g[e] * w[e]) @ X[e] - (wt * g_t[j_of]) @ M
    # weight of r x x' per row: full member of the risk set at event times before its time
    c = np.stack([np.bincount(j_of, weights=wt / S0 * g_t[j_of] ** q, minlength=k) for q in range(3)], 1)
    cf = np.stack([np.bincount(j_of, weights=wt * f / S0 * g_t[j_of] ** q, minlength=k) for q in range(3)], 1)
    C = np.vstack([np.zeros((1, 3)), c.cumsum(0)])  # C[j] = sum of c over event times < j
    at_time = (pos < k) & (ev_times[np.minimum(pos, k - 1)] == t)
    weight = C[last + 1]  # every event time <= t_i, fully
    dead = e & at_time
    weight[dead] = C[pos[dead]] + cf[pos[dead]]  # own event time only for the fraction f
    return np.r_[u1, u2], weight, M, wt, g_t[j_of]


def zph_matrices(
    X: np.ndarray, t: np.ndarray, e: np.ndarray, eta: np.ndarray, g: np.ndarray,
    strata: np.ndarray | None = None, weights: np.ndarray | None = None, method: str = "efron",
) -> tuple[np.ndarray, np.ndarray]:
    """Score ``U`` of ``(beta, gamma)`` (gamma: the time-varying coefficients) and the
    ``2p x 2p`` information at ``gamma = 0``, summed over strata.

    Examples
    --------
    >>> X = np.array([[0.0], [1.0], [0.0], [1.0]])
    >>> u, imat = zph_matrices(X, np.arange(1.0, 5), np.ones(4, bool), np.zeros(4), np.arange(4.0) - 1.5)
    >>> u.shape, imat.shape
    ((2,), (2, 2))
    """
    if method not in ("efron", "breslow"):
        raise DataValidationError(f"ties method '{method}' unknown; use 'efron' or 'breslow'")
    X = np.asarray(X, dtype=float)
    X = X - X.mean(0)  # as R: less round-off, same result
    n, p = X.shape
    e = np.asarray(e).astype(bool)
    w = np.ones(n) if weights is None else np.asarray(weights, dtype=float)
    r = np.exp(eta - eta.mean()) * w
    strata = np.zeros(n, dtype=int) if strata is None else pd.factorize(pd.Series(list(strata)))[0]
    u = np.zeros(2 * p)
    blocks = np.zeros((3, p, p))
    for s in np.unique(strata):
        i = strata == s
        ui, weight, M, mw, mg = _stratum_parts(X[i], t[i], e[i], r[i], w[i], g[i], method == "efron")
        u += ui
        for q in range(3):
            blocks[q] += (X[i] * (r[i] * weight[:, q])[:, None]).T @ X[i] - (M * (mw * mg**q)[:, None]).T @ M
    imat = np.block([[blocks[0], blocks[1]], [blocks[1], blocks[2]]])
    return u, imat


def _at_mle(X, t, e, beta, g, strata, w, method, polish: bool, max_steps: int = 20):
    """Score and information at the maximum of the partial likelihood.

    lifelines stops at a relative log-likelihood change of 1e-9, which can leave the
    coefficient of a rare level ~1e-5 off (lung, ph.ecog = 3) and the test 1e-4 off R's; a
    few Newton steps (the information's beta block is the exact Hessian) finish the job.
    Penalized fits are taken as fitted.
    """
    p = X.shape[1]
    for _ in range(max_steps):
        u, imat = zph_matrices(X, t, e, X @ beta, g, strata=strata, weights=w, method=method)
        if not polish:
            break
        step = np.linalg.solve(imat[:p, :p], u[:p])
        if np.max(np.abs(step)) <= 1e-10 * (1 + np.max(np.abs(beta))):
            break
        beta = beta + step
    return u, imat


def _score_test(u2: np.ndarray, imat: np.ndarray, cols: Sequence[int]) -> float:
    p = len(u2)
    k = np.r_[np.arange(p), p + np.asarray(cols, dtype=int)]
    vec = np.r_[np.zeros(p), u2[list(cols)]]
    return float(vec @ np.linalg.solve(imat[np.ix_(k, k)], vec))


def zph_table(u2: np.ndarray, imat: np.ndarray, terms: Mapping[str, Sequence[int]]) -> pd.DataFrame:
    """``term, statistic, df, p`` per term (its columns tested together) and a GLOBAL row."""
    rows = [(name, _score_test(u2, imat, cols), len(cols)) for name, cols in terms.items()]
    rows.append(("GLOBAL", _score_test(u2, imat, range(len(u2))), len(u2)))
    out = pd.DataFrame(rows, columns=["term", "statistic", "df"])
    out["p"] = chi2.sf(out["statistic"], out["df"])
    return out


def model_terms(model) -> dict[str, list[int]]:
    """Columns of each term of a fitted :class:`CoxModel` (a categorical's dummies together)."""
    cols = list(model.terms_)
    if getattr(model, "formula", None) is not None and hasattr(model, "_spec_"):
        spec = model._spec_
        out = {}
        for term, idx in spec.term_indices.items():
            names = [spec.column_names[i] for i in idx if spec.column_names[i] in cols]
            if names:
                out[str(term)] = [cols.index(c) for c in names]
        return out
    out = {}
    for c in model.covariates:
        if c in model.levels_:
            out[c] = [cols.index(f"{c}[{lv}]") for lv in model.levels_[c] if str(lv) != str(model.reference_[c])]
        else:
            out[c] = [cols.index(c)]
    return out


def _penalty_hessian(cph, p: int, n: int) -> np.ndarray:
    """lifelines' ridge penalty ``n * penalizer * (1 - l1_ratio) / 2 * sum((beta * sd)^2)`` as
    a second derivative in the original units (the L1 part is left out)."""
    pen = np.broadcast_to(np.asarray(cph.penalizer, dtype=float), (p,))
    if not np.any(pen > 0):
        return np.zeros((p, p))
    sd = np.asarray(cph._norm_std, dtype=float)
    return np.diag(n * pen * (1 - cph.l1_ratio) * sd**2)


def ph_test(
    model, data: pd.DataFrame | None = None, transform: str = "km",
    terms: Mapping[str, Sequence[str]] | None = None, method: str = "efron",
) -> pd.DataFrame:
    """Proportional-hazards test of a fitted Cox model, as R's ``cox.zph`` (survival >= 3).

    Parameters
    ----------
    model
        A fitted :class:`csresearch.survival.drivers.CoxModel`, or a fitted lifelines
        ``CoxPHFitter`` together with its training ``data``.
    data
        Training frame of a lifelines fitter (ignored for a ``CoxModel``).
    transform
        Time transform ``g(t)``: ``"km"`` (R's default), ``"rank"`` or ``"identity"``.
    terms
        For a lifelines fitter: term name -> its columns, to test several columns as one
        term (default: one term per column). A ``CoxModel`` groups a categorical's dummies.
    method
        Ties of the fit: ``"efron"`` (lifelines always) or ``"breslow"``.

    Returns
    -------
    DataFrame ``term, statistic, df, p`` with a last row ``GLOBAL`` (all terms together);
    ``attrs["transform"]`` names the transform. A small p says that term's hazard ratio
    changes over time. The test is at the maximum of the partial likelihood (a few Newton
    steps polish the fitted coefficients, as lifelines stops a little early). A penalized
    fit is taken as fitted and its ridge penalty is added to the information, as R does for
    penalized terms (the L1 part is ignored).

    Examples
    --------
    >>> from lifelines.datasets import load_rossi
    >>> from csresearch.survival.drivers import CoxModel
    >>> m = CoxModel(["fin", "age", "race", "wexp", "mar", "paro", "prio"])
    >>> t = ph_test(m.fit(load_rossi(), "week", "arrest"))  # R: age 5.97 (km)
    >>> round(t.set_index("term").loc["age", "statistic"], 2)
    5.97
    """
    if transform not in TRANSFORMS:
        raise DataValidationError(f"time transform '{transform}' unknown; use one of {list(TRANSFORMS)}")
    if hasattr(model, "model_") and hasattr(model, "terms_"):
        cph, data, cols = model.model_, model._data, list(model.terms_)
        groups = model_terms(model)
    else:
        cph, cols = model, list(model.params_.index)
        if data is None:
            raise DataValidationError("ph_test of a lifelines fitter needs its training data (data=...)")
        groups = {k: [cols.index(c) for c in v] for k, v in terms.items()} if terms else {c: [i] for i, c in enumerate(cols)}
    X = data[cols].to_numpy(dtype=float)
    t = data[cph.duration_col].to_numpy(dtype=float)
    e = data[cph.event_col].to_numpy() == 1
    w = data[cph.weights_col].to_numpy(dtype=float) if getattr(cph, "weights_col", None) else None
    st = [cph.strata] if isinstance(cph.strata, str) else list(cph.strata or [])
    strata = data[st].astype(str).agg("|".join, axis=1).to_numpy() if st else None
    beta = cph.params_.reindex(cols).to_numpy(dtype=float)
    g = time_transform(t, e, transform)
    pen = _penalty_hessian(cph, len(cols), len(data))
    u, imat = _at_mle(X, t, e, beta, g, strata, w, method, polish=not pen.any())
    imat[: len(cols), : len(cols)] += pen
    imat[len(cols):, len(cols):] += pen
    out = zph_table(u[len(cols):], imat, groups)
    out.attrs["transform"] = transform
    return out
