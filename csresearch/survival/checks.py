"""Before a Cox (or AFT) fit: the design matrix and the checks that name what would make it wrong.

* :func:`levels_and_reference`, :func:`encode`: categorical columns as ``col[level]`` dummies
  against a named reference level; numeric columns checked (missing values raise);
* :func:`prefit_checks`: constant or exactly collinear covariates raise; near collinearity
  (VIF > 10), leakage (a covariate nearly determined by the duration) and fewer than 10
  events per coefficient warn (:class:`DataQualityWarning`).

Importable from :mod:`csresearch.survival.drivers` as well.

Example
-------
>>> X = encode(df, ["plan"], ["plan"], {"plan": ["a", "b"]}, {"plan": "a"})  # doctest: +SKIP
>>> prefit_checks(X, df["t"], df["e"], numeric=[])  # doctest: +SKIP
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from scipy.stats import spearmanr

from csresearch.errors import DataQualityWarning, DataValidationError

MIN_EPV = 10
VIF_WARN = 10.0
LEAK_SPEARMAN = 0.8
LEAK_R2 = 0.95


def _warn(msg: str) -> None:
    warnings.warn(msg, DataQualityWarning, stacklevel=3)


# -- design matrix ------------------------------------------------------------------------
MAX_LEVELS = 50


def _is_categorical(s: pd.Series) -> bool:
    """Text columns are categorical, unless nearly all their non-blank values are numbers
    (a numeric column with a few blanks or typos, like Telco's TotalCharges: it stays numeric
    and its bad values are reported)."""
    if pd.api.types.is_numeric_dtype(s) or pd.api.types.is_bool_dtype(s):
        return False
    # each distinct text is read once, weighted by how often it occurs
    codes, texts = pd.factorize(s.dropna().astype(str))
    counts = np.bincount(codes, minlength=len(texts))
    texts = pd.Series(texts, dtype=object).str.strip()
    filled = (texts != "").to_numpy()
    n = int(counts[filled].sum())
    numbers = pd.to_numeric(texts[filled], errors="coerce").notna().to_numpy()
    return n == 0 or int(counts[filled][numbers].sum()) / n < 0.95


def encode(
    df: pd.DataFrame,
    covariates: Sequence[str],
    categorical: Sequence[str],
    levels: Mapping[str, list],
    reference: Mapping[str, object],
) -> pd.DataFrame:
    """Numeric design matrix: numeric covariates as floats, categoricals as ``col[level]`` dummies."""
    parts = {}
    for c in covariates:
        if c in categorical:
            x = df[c].astype(str)
            unseen = sorted(set(x.unique()) - set(map(str, levels[c])))
            if unseen:
                raise DataValidationError(
                    f"column '{c}': level(s) {unseen[:5]} were not seen when the model was fitted "
                    f"(known: {levels[c]}); map them onto a known level"
                )
            for lv in levels[c]:
                if str(lv) != str(reference[c]):
                    parts[f"{c}[{lv}]"] = (x == str(lv)).astype(float)
        else:
            x = pd.to_numeric(df[c], errors="coerce").astype(float)
            bad = x.isna()
            if bad.any():
                ex = ", ".join(f"row {i}: {v!r}" for i, v in df.loc[bad, c].head(5).items())
                raise DataValidationError(
                    f"column '{c}': {int(bad.sum())} of {len(df):,} value(s) missing or not numbers ({ex}); "
                    "the model needs a number for every row: fill or drop those rows first"
                )
            parts[c] = x
    return pd.DataFrame(parts, index=df.index)


def _match_level(ref: str, levels: list[str], col: pd.Series) -> str:
    """The level ``ref`` names: itself, or for a numeric column the level equal as a number
    (``"1"`` for ``"1.0"``, a column read as float because of a blank).

    Examples
    --------
    >>> _match_level("1", ["0.0", "1.0"], pd.Series([0.0, 1.0]))
    '1.0'
    """
    if ref in levels or not pd.api.types.is_numeric_dtype(col):
        return ref
    try:
        want = float(ref)
    except ValueError:
        return ref
    same = [lv for lv in levels if _as_float(lv) == want]
    return same[0] if len(same) == 1 else ref


def _as_float(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        return np.nan


def levels_and_reference(
    df: pd.DataFrame, categorical: Sequence[str], reference: Mapping[str, object]
) -> tuple[dict[str, list[str]], dict[str, str]]:
    """Sorted levels and the reference level (given, else the first) of each categorical column."""
    levels, refs = {}, {}
    for c in categorical:
        lv = sorted(df[c].astype(str).unique())
        if len(lv) > MAX_LEVELS:
            raise DataValidationError(
                f"categorical covariate '{c}' has {len(lv):,} levels (e.g. {lv[:3]}): too many "
                f"for a dummy per level (max {MAX_LEVELS}); is it an identifier, or a number "
                "stored as text? Drop it, convert it, or group its levels"
            )
        if len(lv) == 1:
            raise DataValidationError(
                f"covariate '{c}' is constant (every one of the {len(df):,} rows is '{lv[0]}'): it carries "
                "no information about churn and makes the Cox model unidentifiable; drop it from the covariates"
            )
        ref = _match_level(str(reference.get(c, lv[0])), lv, df[c])
        if ref not in lv:
            raise DataValidationError(f"reference level '{ref}' of column '{c}' does not occur; levels: {lv}")
        levels[c], refs[c] = lv, ref
    unknown = set(reference) - set(refs)
    if unknown:
        raise DataValidationError(f"reference given for non-categorical column(s) {sorted(unknown)}")
    return levels, refs


# -- checks before fitting ------------------------------------------------------------------
def _r2(y: np.ndarray, cols: list[np.ndarray]) -> float:
    X = np.column_stack([np.ones(len(y)), *cols])
    b, *_ = np.linalg.lstsq(X, y, rcond=None)
    v = y.var()
    return float(1 - (y - X @ b).var() / v) if v > 0 else 1.0


def prefit_checks(
    X: pd.DataFrame,
    duration: pd.Series,
    event: pd.Series,
    numeric: Sequence[str],
    duration_name: str = "duration",
    min_epv: float = MIN_EPV,
) -> list[str]:
    """Run the pre-fit checks on a design matrix; raise on fatal problems, warn on the rest.

    Returns the warning messages issued (also raised as :class:`DataQualityWarning`).
    """
    issued: list[str] = []

    def warn(msg: str) -> None:
        issued.append(msg)
        _warn(msg)

    n = len(X)
    # constant columns
    for c in X.columns:
        vals = X[c].unique()
        if len(vals) <= 1:
            raise DataValidationError(
                f"covariate '{c}' is constant (every one of the {n:,} rows is {vals[0] if len(vals) else 'empty'}): "
                "it carries no information about churn and makes the Cox model unidentifiable; "
                "drop it from the covariates"
            )
    if X.shape[1] == 0:
        raise DataValidationError("no covariates to fit: give at least one column")
    # collinearity (on standardised columns)
    Z = (X - X.mean()) / X.std(ddof=0)
    _, sv, vt = np.linalg.svd(Z.to_numpy(), full_matrices=False)
    tol = sv.max() * max(Z.shape) * 1e-10
    if (sv < tol).any():
        vec = vt[np.argmin(sv)]
        involved = [X.columns[i] for i in np.flatnonzero(np.abs(vec) > 1e-6)]
        raise DataValidationError(
            f"covariates {involved} are exactly collinear (one is a linear combination of the others"
            + (", e.g. a dummy for every level" if any("[" in c for c in involved) else "")
            + "): their effects cannot be separated and the fit is impossible; drop one of them"
        )
    corr = np.corrcoef(Z.to_numpy(), rowvar=False).reshape(X.shape[1], X.shape[1])
    vif = np.diag(np.linalg.pinv(corr)) if X.shape[1] > 1 else np.ones(1)
    high = [(c, v) for c, v in zip(X.columns, vif, strict=True) if v > VIF_WARN]
    if high:
        warn(
            "nearly collinear covariates (variance inflation factor > 10): "
            + ", ".join(f"'{c}' (VIF {v:.0f})" for c, v in high)
            + "; their hazard ratios are unstable and their intervals wide; drop or combine some"
        )
    # leakage: a covariate nearly determined by the duration
    t = duration.to_numpy(float)
    idx = np.arange(n)
    if n > 20_000:
        idx = np.random.default_rng(0).choice(n, 20_000, replace=False)
    for c in numeric:
        if c not in X.columns:
            continue
        x = X[c].to_numpy(float)
        rho = float(spearmanr(x[idx], t[idx])[0])
        others = [X[o].to_numpy(float)[idx] for o in X.columns if o != c]
        others_num = [X[o].to_numpy(float)[idx] for o in numeric if o != c and o in X.columns]
        r2_base = _r2(x[idx], others) if others else 0.0
        r2_full = _r2(x[idx], [*others, t[idx], *[t[idx] * z for z in others_num]])
        if abs(rho) > LEAK_SPEARMAN or (r2_full >= LEAK_R2 and r2_full - r2_base >= 0.3):
            how = f"Spearman correlation with '{duration_name}' {rho:+.2f}"
            if r2_full >= LEAK_R2:
                inter = ", ".join(f"{duration_name} x {o}" for o in numeric if o != c and o in X.columns)
                how += (
                    f"; R^2 {r2_full:.3f} on {duration_name}" + (f" and {inter}" if inter else "")
                    + f" (vs {r2_base:.2f} from the other covariates alone)"
                )
            warn(
                f"possible leakage: covariate '{c}' is nearly determined by the duration ({how}). "
                "It is probably accumulated over the lifetime (like a total of charges = tenure x "
                "monthly charge), so it encodes the outcome; use its value at the start or at a "
                "landmark, or drop it"
            )
    # events per variable
    events = int(event.sum())
    epv = events / X.shape[1]
    if epv < min_epv:
        warn(
            f"only {epv:.1f} events per estimated coefficient ({events} events, {X.shape[1]} "
            f"coefficients; at least {min_epv} are needed): the coefficients are biased and "
            "unstable; use fewer covariates, merge rare levels, or add a penalizer"
        )
    return issued
