"""A realistic B2B SaaS demo data set whose churn follows a known proportional-hazards model.

Two generating models (``generate(..., model=...)``): ``"dynamic"``, the default
(:mod:`csresearch.demo.dynamic`: a latent monthly engagement state drives every signal, churn
is a time-varying Cox model on the signals the health score reads, annual contracts end at
their term, ``truth_risk.parquet`` holds the true linear predictor per account-month), and
``"static"``, the first model, described below (its files stay byte-identical).

Three segments (enterprise, mid_market, smb) with different MRR, terms and touch models;
monthly start cohorts growing over three years (2023-01-01 .. 2025-12-31, fixed dates);
expansions, contractions, add-on products and reactivations; usage events with weekly
seasonality, per-account trends and a decline before churn; NPS answers that rise with
tenure; tickets followed by CES and CSAT answers; e-mail engagement; onboarding milestones
with delays; CSM sentiment; churn reasons by cause.

Static model: churn is drawn from a Weibull proportional-hazards model on covariates measured in the
first 90 days after an account's first subscription starts (no churn before day 90), so
the covariates are exactly computable from the tables. The true coefficients and the
covariate definitions are written to ``truth.json`` beside the tables.

The same seed gives byte-identical files (``tests/test_demo.py`` pins their hashes).

Modules: ``model`` (calendar, :class:`Truth`, word lists, day helpers), ``population``
(accounts, traits, first 90 days, churn), ``activity`` (usage events, subscriptions,
onboarding milestones), ``feedback`` (tickets, CES, CSAT, NPS, e-mail, CSM sentiment,
churn reasons), ``generator`` (:func:`generate`: the draw order, the files, ``truth.json``).

Example
-------
>>> paths = generate(n_accounts=200, seed=1, out="/tmp/demo")  # doctest: +SKIP
>>> sorted(p.name for p in paths)[:2]  # doctest: +SKIP
['accounts.parquet', 'ces_responses.parquet']
"""

from csresearch.demo.generator import generate
from csresearch.demo.model import END, LANDMARK, START, Truth

__all__ = ["END", "LANDMARK", "START", "Truth", "generate"]
