"""``truth.json`` of the dynamic demo: the whole generating model in words and numbers, and tallies.

Example
-------
>>> info = truth_info(42, 10_000, DynamicTruth(), Tally(), {"accounts": 10_000}, 1.0)
>>> info["model"], info["hazard"]["time_scale"][:8]
('dynamic', 'calendar')
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

from csresearch.demo.dynamic.block import BIG, Block
from csresearch.demo.dynamic.truth import DEFINITIONS, DynamicTruth
from csresearch.demo.model import END, N_DAYS, START


@dataclass
class Tally:
    """Counts gathered block by block for ``truth.json``."""

    counts: dict[str, int] = field(default_factory=lambda: {
        "accounts_annual": 0, "accounts_monthly": 0, "decisions": 0, "churns_in_period": 0,
        "churned_accounts": 0, "reactivated_accounts": 0, "leaving_at_period_end": 0})

    def add(self, blk: Block) -> None:
        """Add one simulated block's counts."""
        c = self.counts
        c["accounts_annual"] += int((blk.term == 12).sum())
        c["accounts_monthly"] += int((blk.term == 1).sum())
        first_end = np.where(blk.ep == 1, 0, blk.end_day)
        c["churned_accounts"] += int(((blk.ep == 1) | (first_end < N_DAYS)).sum())
        c["reactivated_accounts"] += int((blk.ep == 1).sum())
        c["churns_in_period"] += int((blk.ep == 1).sum() + (blk.end_day < N_DAYS).sum())
        c["leaving_at_period_end"] += int((blk.leaving & (blk.end_day >= N_DAYS) & (blk.end_day < BIG)).sum())
        c["decisions"] += int((blk.ep == 1).sum() + (blk.end_day < BIG).sum())


def _model_text(t: DynamicTruth) -> dict:
    seg = "tuples are (enterprise, mid_market, smb)"
    return {
        "state": {
            "note": seg,
            "equation": "s_m = L_m + phi (s_{m-1} - L_{m-1}) + sigma e_m - champion_drop C_m - bad_support_drop "
                        "B_m - leaving_drift D_m, e_m ~ N(0, 1); L_m = mu_i + ramp_seg min(tenure months at mid-month, "
                        "12) / 12; mu_i ~ N(state_mean_seg, state_sd_account); C_m ~ Bernoulli(champion_p_seg) "
                        "(a champion leaves), B_m ~ Bernoulli(bad_support_p) (a bad support month), D_m = 1 once the "
                        "account has decided to leave (annual contracts wait for the term end)",
            "start": "first month: s = mu_i + start_onboarding onb_i + start_sd e (onb_i ~ N(0, 1), the onboarding "
                     "propensity); after a reactivation: s = mu_i + start_sd e",
        },
        "observables": {
            "usage_events": "per account-month N ~ Poisson(usage_base_seg size_i exp(usage_state (s - state_mean_seg) "
                            "+ N(0, usage_month_sd)) usage_scale x weighted active days), size_i ~ lognormal(0, "
                            "usage_size_sd); weekday weight 1, weekend 0.3; each event on a day drawn with those "
                            "weights, event type within breadth_i + round(1.5 (s - state_mean_seg)) types, user among "
                            "seats_i / (1 + exp(-(0.5 + s - state_mean_seg))) active seats",
            "support_tickets": "per account-month Poisson(ticket_base_seg gamma(2, 0.5) exp(ticket_state (s - "
                               "state_mean_seg)) x ticket_bad_factor if a bad support month x 1.5 in the first 90 "
                               "days x active days / 30.44); resolution hours gamma(1.2, 40/24/10/4 by priority)",
            "ces_responses": "ces_response_p of closed tickets, 1 h..2 days after closing: round(N(ces_mean + ces_state s "
                             "+ ces_bad B_m + ces_hours hours, ces_sd)) clipped to 1..7",
            "csat_responses": "30 % of closed tickets: round(N(4.2 - 0.015 hours + 0.3 s, 0.8)) clipped to 1..5",
            "nps_responses": "a survey every 91 days from the episode start + 20..79 days; answered with p 0.75 (the "
                             "first) or nps_response_p: round(N(nps_mean + nps_state s + nps_ces (ces6 - ces_mean) + "
                             "nps_tenure min(tenure months, 12) / 12, nps_sd)) clipped to 0..10; ces6 = the kit's "
                             "ces_mean at the previous month's snapshot (ces_mean when none): CES -> NPS by construction",
            "email_events": "a newsletter on the 10th to every account active that day; opened with p = logistic("
                            "email_intercept + email_state s + a_i), a_i ~ N(0, email_account_sd); clicked: 30 % of opens",
            "csm_sentiment": "enterprise and mid_market, on the 20th from day 30: r = s - state_mean_seg + c_i + "
                             "N(0, csm_noise_sd), c_i ~ N(0, csm_bias_sd) the CSM's lasting view; red below csm_cuts[0], green above csm_cuts[1], yellow between",
            "onboarding_milestones": "kickoff/integration/training/first_value due on days 7/30/45/60; completed at due "
                                     "+ gamma(1.5, 3.5 exp(-0.7 onb_i)) - 7 days (never with p 0.03 + 0.05 [onb_i < -1.2])",
        },
        "contracts": "enterprise and mid_market annual with p annual_share_seg, otherwise monthly (term_months 1); "
                     "a decision to leave ends a monthly contract on its day and an annual one at the next term "
                     "anniversary (start_date + 12k months); MRR changes only on anniversaries (annual: p 0.5, "
                     "monthly: 0.03; up with p logistic(1.5 (s - mu_i) + 0.5), x U(1.05, 1.4), else x U(0.7, 0.95)), "
                     "a new subscription row each time; enterprise annual accounts add the analytics product "
                     "(25 % of the first MRR) at a renewal with p 0.3; a churned account comes back 45..180 days "
                     "later with p reactivation_p (once), on its contract term",
    }


def truth_info(seed: int, n: int, truth: DynamicTruth, tally: Tally, rows: dict[str, int],
               usage_scale: float) -> dict:
    """The content of ``truth.json`` for the dynamic model.

    Examples
    --------
    >>> truth_info(1, 10, DynamicTruth(), Tally(), {}, 1.0)["coefficients"]["nps_detractor"]["coef"]
    0.7
    """
    return {
        "description": "Demo B2B SaaS data generated by csresearch.demo (model 'dynamic'): a latent monthly "
        "engagement state drives every observable; churn follows a time-varying Cox model on observable "
        "signals measured at each month's end as the kit's health inputs are.",
        "model": "dynamic",
        "seed": seed,
        "n_accounts": n,
        "usage_scale": usage_scale,
        "period": {"start": str(START), "end": str(END), "as_of": str(END)},
        "hazard": {
            "time_scale": "calendar months (grouped-time proportional hazards)",
            "equation": "P(decide to leave in month m + 1) = 1 - exp(-baseline_per_month exp(x_m' beta)), x_m "
            "measured at the snapshot of month m (its last day), for an account that is a customer on it and "
            "has not decided yet. A monthly contract then ends on its anniversary in month m + 1 (the "
            "subscription's end_date, the churn day); an annual contract ends at the first anniversary after "
            "a uniform day of month m + 1 (the decision is not in the data)",
            "baseline_per_month": truth.baseline_per_month,
            "linear_predictor": "x_m' beta = sum of coef x covariate below (truth_risk.parquet: account_id, "
            "period_start = the first day of month m, linear_predictor; one row per account and month whose "
            "snapshot finds it a customer, also after an annual account's decision)",
            "kit_columns": "csresearch.features.account.account_month_features with its default windows; "
            "csresearch.demo.dynamic.truth.covariates computes the covariates from them",
        },
        "coefficients": {
            k: {"coef": v, "hazard_ratio": round(float(np.exp(v)), 6), "definition": DEFINITIONS[k]}
            for k, v in truth.coefficients.items()
        },
        "parameters": {k: v for k, v in asdict(truth).items() if k != "coefficients"},
        "model_statement": _model_text(truth),
        "counts": dict(tally.counts),
        "rows": rows,
    }
