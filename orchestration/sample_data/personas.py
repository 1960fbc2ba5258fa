"""Customer personas: the generative parameters behind every simulated person.

Each persona is a population of people with its own heterogeneity distributions rather than
a single set of numbers, so that within-persona variation is realistic and models that assume
those distributions (BG/NBD, Gamma-Gamma) can recover them:

* purchase rate λ ~ Gamma(shape=r, rate=α) per operational week,
* dropout probability after each repeat purchase p ~ Beta(a, b),
* order value ~ Gamma(shape=p_gg, rate=ν) with ν ~ Gamma(shape=q_gg, rate=γ_gg),
  so a person's true mean order value is p_gg / ν.

The remaining fields shape channels, engagement and marketing response. Values are tuned so
that 1M persons give roughly 10M order lines and tens of millions of events.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import pyarrow as pa

CHANNELS: tuple[str, ...] = ("web", "app", "marketplace", "store")
ACQUISITION_CHANNELS: tuple[str, ...] = (
    "organic",
    "paid_search",
    "social_ads",
    "referral",
    "affiliate",
    "store",
)
CATEGORIES: tuple[str, ...] = (
    "beauty",
    "fashion",
    "electronics",
    "home",
    "food_gifts",
    "baby",
    "sports",
    "jewelry",
)
INCOME_BANDS: tuple[str, ...] = ("low", "lower_middle", "upper_middle", "high")


@dataclass(frozen=True)
class PersonaSpec:
    """Parameters of one persona; see the module docstring for the distributions."""

    name: str
    share: float
    is_prospect: bool
    # BG/NBD: lambda ~ Gamma(r, rate alpha) per week, p ~ Beta(a, b)
    r: float
    alpha: float
    a: float
    b: float
    # Gamma-Gamma spend
    p_gg: float
    q_gg: float
    gamma_gg: float
    #: how strongly purchases and visits follow the retail calendar (1 = base shape)
    seasonal_amplitude: float
    #: share of the persona acquired before start_date (their history is left-censored)
    pre_start_share: float
    #: Beta(k, 1) skew of in-history acquisition towards the end of the history (1 = uniform)
    acquisition_recency: float
    #: mean order channel mix: web, app, marketplace, store
    channel_mix: tuple[float, float, float, float]
    #: organic, paid_search, social_ads, referral, affiliate, store
    acquisition_mix: tuple[float, float, float, float, float, float]
    web_sessions_per_week: float
    app_sessions_per_week: float
    #: share of browse sessions that put something in the cart (and abandon it)
    cart_abandon: float
    #: share of sessions in which the visitor logs in
    login_share: float
    email_open: float
    email_click: float
    push_open: float
    sms_click: float
    #: mean probability that a campaign with effect 1 induces an extra purchase
    uplift_mean: float
    #: discount sensitivity ~ Beta(ds_a, ds_b)
    ds_a: float
    ds_b: float
    member_prob: float
    social_prob: float
    #: probability of using the app / web for browsing even without ordering there
    app_user_prob: float
    web_user_prob: float
    return_rate: float
    ticket_rate: float
    #: weights over CATEGORIES for the person's favourite category
    category_weights: tuple[float, ...]
    age_mean: float
    female_share: float
    income_weights: tuple[float, float, float, float]

    @property
    def mean_lambda(self) -> float:
        """Population mean purchase rate per week, r / α."""
        return self.r / self.alpha

    @property
    def mean_p(self) -> float:
        """Population mean dropout probability, a / (a + b)."""
        return self.a / (self.a + self.b)

    @property
    def mean_order_value(self) -> float:
        """Population mean of the personal mean order value, p γ / (q - 1)."""
        return self.p_gg * self.gamma_gg / (self.q_gg - 1.0)


PERSONAS: tuple[PersonaSpec, ...] = (
    PersonaSpec(
        name="high_value_loyalist", share=0.09, is_prospect=False,
        r=4.0, alpha=13.0, a=1.0, b=45.0, p_gg=6.0, q_gg=8.0, gamma_gg=500.0,
        seasonal_amplitude=0.6, pre_start_share=0.8, acquisition_recency=1.0,
        channel_mix=(0.35, 0.35, 0.05, 0.25), acquisition_mix=(0.40, 0.10, 0.05, 0.20, 0.05, 0.20),
        web_sessions_per_week=0.25, app_sessions_per_week=0.30, cart_abandon=0.35, login_share=0.8,
        email_open=0.45, email_click=0.25, push_open=0.25, sms_click=0.08, uplift_mean=0.05,
        ds_a=1.5, ds_b=6.0, member_prob=0.95, social_prob=0.6, app_user_prob=0.7, web_user_prob=0.8,
        return_rate=0.04, ticket_rate=0.03,
        category_weights=(0.25, 0.2, 0.1, 0.15, 0.05, 0.05, 0.1, 0.1),
        age_mean=38.0, female_share=0.62, income_weights=(0.05, 0.2, 0.45, 0.30),
    ),
    PersonaSpec(
        name="bargain_hunter", share=0.18, is_prospect=False,
        r=2.5, alpha=19.0, a=1.5, b=20.0, p_gg=4.0, q_gg=6.0, gamma_gg=180.0,
        seasonal_amplitude=1.8, pre_start_share=0.5, acquisition_recency=1.0,
        channel_mix=(0.30, 0.30, 0.30, 0.10), acquisition_mix=(0.20, 0.20, 0.25, 0.10, 0.20, 0.05),
        web_sessions_per_week=0.20, app_sessions_per_week=0.15, cart_abandon=0.5, login_share=0.55,
        email_open=0.30, email_click=0.30, push_open=0.15, sms_click=0.06, uplift_mean=0.08,
        ds_a=6.0, ds_b=2.0, member_prob=0.5, social_prob=0.5, app_user_prob=0.5, web_user_prob=0.8,
        return_rate=0.07, ticket_rate=0.03,
        category_weights=(0.15, 0.2, 0.1, 0.2, 0.15, 0.1, 0.08, 0.02),
        age_mean=33.0, female_share=0.58, income_weights=(0.30, 0.40, 0.25, 0.05),
    ),
    PersonaSpec(
        name="occasional_gift_buyer", share=0.15, is_prospect=False,
        r=3.0, alpha=80.0, a=2.0, b=16.0, p_gg=5.0, q_gg=7.0, gamma_gg=600.0,
        seasonal_amplitude=2.2, pre_start_share=0.45, acquisition_recency=1.0,
        channel_mix=(0.40, 0.10, 0.25, 0.25), acquisition_mix=(0.35, 0.25, 0.10, 0.15, 0.05, 0.10),
        web_sessions_per_week=0.08, app_sessions_per_week=0.02, cart_abandon=0.3, login_share=0.4,
        email_open=0.20, email_click=0.15, push_open=0.10, sms_click=0.04, uplift_mean=0.03,
        ds_a=2.0, ds_b=5.0, member_prob=0.3, social_prob=0.3, app_user_prob=0.15, web_user_prob=0.8,
        return_rate=0.10, ticket_rate=0.04,
        category_weights=(0.15, 0.1, 0.1, 0.05, 0.25, 0.05, 0.05, 0.25),
        age_mean=42.0, female_share=0.45, income_weights=(0.10, 0.30, 0.40, 0.20),
    ),
    PersonaSpec(
        name="new_app_first", share=0.14, is_prospect=False,
        r=2.0, alpha=14.0, a=2.0, b=22.0, p_gg=4.0, q_gg=6.0, gamma_gg=250.0,
        seasonal_amplitude=1.2, pre_start_share=0.0, acquisition_recency=1.8,
        channel_mix=(0.08, 0.82, 0.05, 0.05), acquisition_mix=(0.15, 0.15, 0.40, 0.15, 0.15, 0.0),
        web_sessions_per_week=0.02, app_sessions_per_week=0.50, cart_abandon=0.45, login_share=0.9,
        email_open=0.12, email_click=0.15, push_open=0.30, sms_click=0.05, uplift_mean=0.06,
        ds_a=3.0, ds_b=4.0, member_prob=0.55, social_prob=0.55, app_user_prob=1.0, web_user_prob=0.2,
        return_rate=0.06, ticket_rate=0.03,
        category_weights=(0.2, 0.3, 0.2, 0.05, 0.05, 0.05, 0.12, 0.03),
        age_mean=26.0, female_share=0.55, income_weights=(0.20, 0.45, 0.30, 0.05),
    ),
    PersonaSpec(
        name="lapsing_customer", share=0.16, is_prospect=False,
        r=2.0, alpha=20.0, a=3.0, b=7.0, p_gg=4.0, q_gg=5.0, gamma_gg=220.0,
        seasonal_amplitude=1.0, pre_start_share=0.7, acquisition_recency=1.0,
        channel_mix=(0.40, 0.20, 0.20, 0.20), acquisition_mix=(0.25, 0.25, 0.15, 0.10, 0.15, 0.10),
        web_sessions_per_week=0.12, app_sessions_per_week=0.06, cart_abandon=0.35, login_share=0.5,
        email_open=0.15, email_click=0.15, push_open=0.10, sms_click=0.04, uplift_mean=0.06,
        ds_a=2.5, ds_b=4.0, member_prob=0.45, social_prob=0.3, app_user_prob=0.35, web_user_prob=0.7,
        return_rate=0.09, ticket_rate=0.06,
        category_weights=(0.15, 0.2, 0.15, 0.15, 0.1, 0.1, 0.1, 0.05),
        age_mean=36.0, female_share=0.52, income_weights=(0.20, 0.40, 0.30, 0.10),
    ),
    PersonaSpec(
        name="prospect", share=0.28, is_prospect=True,
        r=1.0, alpha=1e9, a=1.0, b=1.0, p_gg=4.0, q_gg=6.0, gamma_gg=200.0,
        seasonal_amplitude=1.0, pre_start_share=0.3, acquisition_recency=1.2,
        channel_mix=(0.6, 0.3, 0.1, 0.0), acquisition_mix=(0.40, 0.20, 0.25, 0.10, 0.05, 0.0),
        web_sessions_per_week=0.05, app_sessions_per_week=0.02, cart_abandon=0.15, login_share=0.1,
        email_open=0.10, email_click=0.08, push_open=0.08, sms_click=0.02, uplift_mean=0.0,
        ds_a=2.0, ds_b=2.0, member_prob=0.3, social_prob=0.35, app_user_prob=0.2, web_user_prob=0.9,
        return_rate=0.0, ticket_rate=0.0,
        category_weights=(0.15, 0.2, 0.15, 0.1, 0.1, 0.1, 0.1, 0.1),
        age_mean=31.0, female_share=0.55, income_weights=(0.25, 0.40, 0.25, 0.10),
    ),
)  # fmt: skip

PERSONA_NAMES: tuple[str, ...] = tuple(p.name for p in PERSONAS)


def persona_table() -> pa.Table:
    """Ground-truth table of the persona parameters (one row per persona)."""
    rows = []
    for spec in PERSONAS:
        row = asdict(spec)
        for key in ("channel_mix", "acquisition_mix", "category_weights", "income_weights"):
            row[key] = list(row[key])
        row["mean_lambda_per_week"] = spec.mean_lambda
        row["mean_p"] = spec.mean_p
        row["mean_order_value"] = spec.mean_order_value
        rows.append(row)
    return pa.Table.from_pylist(rows)
