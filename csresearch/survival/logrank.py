"""Log-rank tests of survival curves by group: all groups at once, and pairwise with a
multiple-testing correction (lifelines' tests; the groups as :mod:`csresearch.survival.curves`
forms them).

Example
-------
>>> logrank(st, "tenure_days", "churned", by="segment")  # doctest: +SKIP
"""

from __future__ import annotations

import itertools

import pandas as pd
from lifelines.statistics import logrank_test, multivariate_logrank_test
from statsmodels.stats.multitest import multipletests

from csresearch.errors import DataValidationError
from csresearch.survival.curves import _groups
from csresearch.survival.tables import DURATION, EVENT


def logrank(
    df: pd.DataFrame,
    duration: str,
    event: str,
    by: str,
    weightings: str | None = None,
    dropna: bool = False,
) -> pd.DataFrame:
    """Log-rank test that all groups of ``by`` share one survival curve (k >= 2 groups).

    With two groups it is the usual two-sample test; with more, the multivariate log-rank
    test (chi-square on k - 1 degrees of freedom). ``weightings`` passes lifelines' options
    (``"wilcoxon"``, ``"tarone-ware"``, ``"peto"``, ``"fleming-harrington"``).

    Returns
    -------
    One-row DataFrame ``test, by, groups, n, events, statistic, df, p``.
    """
    sv, groups = _groups(df, duration, event, by, dropna)
    if len(groups) < 2:
        raise DataValidationError(f"log-rank by '{by}' needs at least two groups; found {len(groups)}")
    r = multivariate_logrank_test(sv[DURATION], sv[by].astype(str), sv[EVENT], weightings=weightings)
    return pd.DataFrame(
        [
            {
                "test": ("log-rank" if weightings is None else f"weighted log-rank ({weightings})")
                + (" (two groups)" if len(groups) == 2 else f" (multivariate, {len(groups)} groups)"),
                "by": by,
                "groups": len(groups),
                "n": len(sv),
                "events": int(sv[EVENT].sum()),
                "statistic": float(r.test_statistic),
                "df": int(r.degrees_of_freedom),
                "p": float(r.p_value),
            }
        ]
    )


def pairwise_logrank(
    df: pd.DataFrame,
    duration: str,
    event: str,
    by: str,
    method: str = "holm",
    alpha: float = 0.05,
    dropna: bool = False,
) -> pd.DataFrame:
    """Log-rank test of every pair of groups, p-values corrected for multiple comparisons.

    ``method`` is a statsmodels ``multipletests`` method (Holm by default).

    Returns
    -------
    DataFrame ``group_a, group_b, statistic, p, p_adjusted, significant`` (``p_adjusted < alpha``).
    """
    _, groups = _groups(df, duration, event, by, dropna)
    rows = []
    for (ga, a), (gb, b) in itertools.combinations(groups, 2):
        r = logrank_test(a[DURATION], b[DURATION], a[EVENT], b[EVENT])
        rows.append({"group_a": str(ga), "group_b": str(gb), "statistic": float(r.test_statistic), "p": float(r.p_value)})
    out = pd.DataFrame(rows)
    if out.empty:
        raise DataValidationError(f"pairwise log-rank by '{by}' needs at least two groups")
    reject, padj, _, _ = multipletests(out["p"], alpha=alpha, method=method)
    out["p_adjusted"] = padj
    out["significant"] = reject
    out.attrs["method"] = method
    return out
