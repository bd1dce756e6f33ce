"""The dynamic demo model: a latent monthly engagement state and a time-varying Cox truth.

Modules: ``truth`` (:class:`DynamicTruth`, the covariates and linear predictor), ``clock``
(months, anniversaries, weekday weights), ``block`` (a block of accounts and its matrices),
``simulate`` (the month-by-month simulation), ``measure`` (the kit's columns at a snapshot),
``tables`` (Arrow tables of a block), ``sink`` (block-by-block writers), ``describe``
(``truth.json``), ``generate`` (:func:`generate_dynamic`).

Example
-------
>>> from csresearch.demo import generate
>>> paths = generate(n_accounts=500, seed=1, out="/tmp/demo", model="dynamic")  # doctest: +SKIP
"""

from csresearch.demo.dynamic.truth import DynamicTruth

__all__ = ["DynamicTruth"]
