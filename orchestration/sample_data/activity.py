"""What persons do: campaign responses, orders, sessions, engagement, CRM, tickets, social.

Each function takes the chunk's persons and identity and returns plain numpy columns; the
landing tables are assembled in :mod:`orchestration.sample_data.sources`. All work is
vectorised over persons / events; the only loop is over the ~50 campaigns, which must run in
time order because an unsubscribe in one campaign removes the person from later ones.

Campaign effect model: every targeted person (treated or control) draws a *potential*
induced purchase with probability ``effect_c * uplift_i * (1 + 1.5 * discount_c * sensitivity_i)``
if alive; only treated persons realise it, as one extra order inside the response window.
Induced orders sit outside the BG/NBD process (they trigger no dropout), so the organic
process stays exact. The true per-campaign uplift is the sample average treatment effect on
the targeted population: the share whose conversion in the window happens only because of
the campaign (potential induced purchase and no other order in the window).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from orchestration.sample_data.personas import PERSONAS
from orchestration.sample_data.population import (
    NEVER,
    Context,
    Identity,
    Persons,
    Purchases,
    categorical,
    per_persona,
)
from orchestration.sample_data.seasonality import DAY_S

HOUR_S = 3600
USD_CNY = 7.2  # fixed conversion used for the few cross-border USD orders in ground truth

REFERRERS: tuple[str, ...] = ("direct", "search", "social", "email", "sms", "push", "paid")
REF_BY_CHANNEL = {"email": 3, "sms": 4, "push": 5, "social": 2, "paid_search": 6, "display": 6}


@dataclass
class Columns:
    """Accumulates equally long numpy columns, then concatenates them once."""

    parts: dict[str, list[np.ndarray]] = field(default_factory=dict)

    def add(self, **cols: np.ndarray) -> None:
        for k, v in cols.items():
            self.parts.setdefault(k, []).append(np.asarray(v))

    def done(self, **dtypes: type) -> dict[str, np.ndarray]:
        out = {k: np.concatenate(v) for k, v in self.parts.items()}
        for k, dt in dtypes.items():
            if k not in out:
                out[k] = np.zeros(0, dtype=dt)
        return out


def gather(values: np.ndarray, idx: np.ndarray, fill: bool | float) -> np.ndarray:
    """``values[idx]`` where ``idx >= 0``, else ``fill`` (safe when ``values`` is empty)."""
    idx = np.asarray(idx)
    ok = idx >= 0
    out = np.full(len(idx), fill, dtype=values.dtype if len(values) else np.asarray(fill).dtype)
    out[ok] = values[idx[ok]]
    return out


# ----------------------------------------------------------------------------- campaigns


@dataclass
class CampaignOutcome:
    """Everything the campaigns caused in one chunk."""

    touches: dict[str, np.ndarray]
    email: dict[str, np.ndarray]
    sms: dict[str, np.ndarray]
    push: dict[str, np.ndarray]
    social: dict[str, np.ndarray]
    clicks: dict[str, np.ndarray]
    induced: dict[str, np.ndarray]
    unsub: np.ndarray  # (n, 3) email, sms, push unsubscribe time (NEVER if none)


def _last_purchase_before(purchases: Purchases, n: int, at: int) -> np.ndarray:
    """Time of each person's last organic purchase at or before ``at`` (-NEVER if none)."""
    before = purchases.ts <= at
    last = np.full(n, -NEVER, dtype=np.int64)
    # purchases are sorted by (person, ts): the last write per person wins
    last[purchases.person[before]] = purchases.ts[before]
    return last


def run_campaigns(
    ctx: Context, rng: np.random.Generator, persons: Persons, ident: Identity, purchases: Purchases
) -> CampaignOutcome:
    """Target, contact and (for the treated) move persons, campaign by campaign in time order."""
    camp = ctx.campaigns
    n = persons.n
    unsub = np.full((n, 3), NEVER, dtype=np.int64)
    touches, email, sms, push, social, clicks, induced = (Columns() for _ in range(7))
    customer = ~persons.is_prospect
    for c in np.flatnonzero(camp.person_level):
        ch = str(camp.channel[c])
        send = int(camp.started_at[c])
        known = persons.acq_ts <= send
        phone_now = ident.phone_at(np.arange(n), np.full(n, send))
        device_now = ident.device_at(np.arange(n), np.full(n, send))
        if ch == "email":
            contact = (ident.email0 >= 0) & (persons.consent_ts[:, 0] <= send) & (unsub[:, 0] > send)
        elif ch == "sms":
            contact = (phone_now >= 0) & (persons.consent_ts[:, 1] <= send) & (unsub[:, 1] > send)
        elif ch == "push":
            contact = (device_now >= 0) & (persons.consent_ts[:, 2] <= send) & (unsub[:, 2] > send)
        else:  # social: followers reachable by a bound phone or their membership
            follows = (ident.follow_ts <= send).any(axis=1)
            contact = follows & ((ident.open_bind_ts <= send).any(axis=1) | (persons.signup_ts <= send))
        objective = str(camp.objective[c])
        last = _last_purchase_before(purchases, n, send)
        since = send - last
        if objective == "retention":
            target = customer & (since <= 180 * DAY_S)
        elif objective == "winback":
            target = customer & (since > 180 * DAY_S) & (since <= 720 * DAY_S)
        else:
            target = np.ones(n, dtype=bool)
        selected = known & contact & target & (rng.random(n) < camp.target_fraction[c])
        control = selected & (rng.random(n) < camp.control_share[c])
        treated = selected & ~control
        jitter = {"email": 3 * HOUR_S, "sms": HOUR_S, "push": 1800, "social": 6 * HOUR_S}[ch]
        touched = send + rng.integers(0, jitter, n)
        alive = customer & (persons.died_ts > touched) & (persons.acq_ts <= touched)
        disc = camp.discount_pct[c]
        prob = np.clip(camp.effect[c] * persons.uplift * (1 + 1.5 * disc * persons.disc_sens), 0, 0.9)
        potential = selected & alive & (rng.random(n) < prob)
        window_s = int(camp.window_days[c]) * DAY_S

        sel = np.flatnonzero(selected)
        member_e = np.where(persons.signup_ts[sel] <= send, ident.member_entry[sel], -1)
        # Audiences are synced from the shop's customer database, so the campaign tool holds
        # the account as its external id next to the contact point (Braze external_id,
        # Klaviyo $id): marketing only reaches addresses the business collected somewhere.
        account_e = ident.account[sel]
        none = np.full(len(sel), -1, dtype=np.int64)
        e_email = ident.email0[sel] if ch == "email" else none
        e_phone = phone_now[sel] if ch == "sms" else none
        if ch == "social":
            e_phone = np.where((ident.open_bind_ts[sel] <= send).any(axis=1), phone_now[sel], -1)
        e_device = device_now[sel] if ch == "push" else none
        touches.add(
            campaign=np.full(len(sel), c),
            person=sel,
            ts=touched[sel],
            control=control[sel],
            email=e_email,
            phone=e_phone,
            device=e_device,
            member=member_e,
            account=account_e,
            potential=potential[sel],
        )

        ind = np.flatnonzero(treated & potential)
        delay = np.minimum(rng.exponential(window_s / 3.0, len(ind)).astype(np.int64) + 600, window_s - 60)
        induced.add(person=ind, ts=touched[ind] + delay, campaign=np.full(len(ind), c))

        tr = np.flatnonzero(treated)
        t0 = touched[tr]
        k = len(tr)
        if ch in ("email", "sms", "push"):
            bounce_p = {"email": 0.015, "sms": 0.03, "push": 0.07}[ch]
            bounce = rng.random(k) < bounce_p
            deliv = t0 + rng.integers(1, 90, k)
            appeal = rng.uniform(0.8, 1.2)
            if ch == "email":
                opened = ~bounce & (rng.random(k) < persons.email_open[tr] * appeal)
                clicked = opened & (rng.random(k) < persons.email_click[tr])
                unsub_p = 0.004
            elif ch == "push":
                opened = ~bounce & (rng.random(k) < persons.push_open[tr] * appeal)
                clicked = opened & (rng.random(k) < 0.4)
                unsub_p = 0.005
            else:
                opened = np.zeros(k, dtype=bool)  # SMS has no open tracking
                clicked = ~bounce & (rng.random(k) < persons.sms_click[tr] * appeal)
                unsub_p = 0.006
            open_ts = deliv + rng.exponential(5 * HOUR_S, k).astype(np.int64) + 30
            click_base = np.where(opened, open_ts, deliv + rng.exponential(2 * HOUR_S, k).astype(np.int64))
            click_ts = click_base + rng.exponential(120, k).astype(np.int64) + 5
            unsubscribed = ~bounce & (rng.random(k) < unsub_p)
            unsub_ts = np.where(opened, open_ts + 60, deliv + rng.exponential(DAY_S, k).astype(np.int64))
            slot = {"email": 0, "sms": 1, "push": 2}[ch]
            unsub[tr[unsubscribed], slot] = np.minimum(unsub[tr[unsubscribed], slot], unsub_ts[unsubscribed])
            ident_e = {"email": ident.email0[tr], "sms": phone_now[tr], "push": device_now[tr]}[ch]
            kinds = [
                ("sent", np.ones(k, bool), t0),
                ("delivered", ~bounce, deliv),
                ("bounce", bounce, deliv),
                ("open", opened, open_ts),
                ("click", clicked, click_ts),
                ("unsubscribe", unsubscribed, unsub_ts),
            ]
            sink = {"email": email, "sms": sms, "push": push}[ch]
            for name, mask, ts in kinds:
                m = np.flatnonzero(mask)
                sink.add(
                    campaign=np.full(len(m), c),
                    person=tr[m],
                    ts=ts[m],
                    kind=np.full(len(m), name),
                    entry=ident_e[m],
                )
            cm = np.flatnonzero(clicked)
            clicks.add(
                person=tr[cm],
                ts=click_ts[cm] + rng.integers(2, 40, len(cm)),
                campaign=np.full(len(cm), c),
                referrer=np.full(len(cm), REF_BY_CHANNEL[ch]),
                app=np.full(len(cm), ch == "push"),
            )
        else:
            platform = np.argmax(ident.follow_ts[tr] <= send, axis=1)
            for name, p_act in (("like", 0.25), ("share", 0.04), ("message", 0.03)):
                m = np.flatnonzero(rng.random(k) < p_act)
                social.add(
                    campaign=np.full(len(m), c),
                    person=tr[m],
                    ts=t0[m] + rng.exponential(4 * HOUR_S, len(m)).astype(np.int64) + 60,
                    kind=np.full(len(m), name),
                    platform=platform[m],
                )
    i64, b = np.int64, bool
    return CampaignOutcome(
        touches=touches.done(
            campaign=i64,
            person=i64,
            ts=i64,
            control=b,
            email=i64,
            phone=i64,
            device=i64,
            member=i64,
            account=i64,
            potential=b,
        ),
        email=email.done(campaign=i64, person=i64, ts=i64, kind=str, entry=i64),
        sms=sms.done(campaign=i64, person=i64, ts=i64, kind=str, entry=i64),
        push=push.done(campaign=i64, person=i64, ts=i64, kind=str, entry=i64),
        social=social.done(campaign=i64, person=i64, ts=i64, kind=str, platform=i64),
        clicks=clicks.done(person=i64, ts=i64, campaign=i64, referrer=i64, app=b),
        induced=induced.done(person=i64, ts=i64, campaign=i64),
        unsub=unsub,
    )


# ----------------------------------------------------------------------------- orders


@dataclass
class Orders:
    """Orders in [start, holdout_end] with their lines; order arrays sorted by time."""

    person: np.ndarray
    ts: np.ndarray
    channel: np.ndarray  # 0 web, 1 app, 2 marketplace, 3 store
    status: np.ndarray  # 0 completed, 1 returned, 2 cancelled
    campaign: np.ndarray  # campaign credited (utm / induced), -1 none
    induced_by: np.ndarray  # campaign that induced the order, -1 organic
    trial: np.ndarray
    usd: np.ndarray
    pct: np.ndarray
    coupon: np.ndarray  # str, "" none
    seq: np.ndarray  # running number within shop orders, or POS transaction number of the sale
    with_account: np.ndarray  # placed while logged in to a shop account
    tablet: np.ndarray  # shared store tablet used for an app order, -1 none
    revenue_cents: np.ndarray  # net of discounts, CNY
    line_start: np.ndarray
    line_count: np.ndarray
    # lines
    line_order: np.ndarray
    line_no: np.ndarray
    product: np.ndarray
    qty: np.ndarray
    unit_cents: np.ndarray  # in the order currency
    disc_cents: np.ndarray
    # POS returns: a later 'return' transaction for returned store sales
    ret_order: np.ndarray
    ret_ts: np.ndarray
    ret_seq: np.ndarray


_ORGANIC_COUPONS = {0.05: "SAVE5", 0.1: "SAVE10", 0.15: "VIP15", 0.2: "MEGA20"}


def make_orders(
    ctx: Context,
    rng: np.random.Generator,
    persons: Persons,
    ident: Identity,
    purchases: Purchases,
    outcome: CampaignOutcome,
) -> Orders:
    """Turn purchase events into orders and order lines with Gamma-Gamma order values."""
    t = ctx.time
    cat = ctx.catalogue
    camp = ctx.campaigns
    keep = purchases.ts >= t.start
    ind = outcome.induced
    person = np.concatenate([purchases.person[keep], ind["person"]])
    ts = np.concatenate([purchases.ts[keep], ind["ts"]])
    induced_by = np.concatenate([np.full(int(keep.sum()), -1), ind["campaign"]])
    trial = np.concatenate([purchases.is_trial[keep], np.zeros(len(ind["person"]), bool)])
    order = np.lexsort((person, ts))
    person, ts, induced_by, trial = person[order], ts[order], induced_by[order], trial[order]
    n = len(person)

    channel = categorical(rng, persons.channel_p[person])
    u = rng.random(n)
    ret_rate = np.array([p.return_rate for p in PERSONAS])[persons.persona[person]]
    status = np.where(u < ret_rate, 1, 0)
    status = np.where((channel != 3) & (u > 0.97), 2, status)
    has_acc = ident.account[person] >= 0
    with_account = np.where(channel == 0, has_acc & (rng.random(n) < 0.85), (channel == 1) & has_acc)
    n_tab = len(ctx.stores.tablet_device)
    on_tablet = (channel == 1) & (persons.channel_p[person, 3] > 0) & (rng.random(n) < 0.05)
    tablet = np.where(on_tablet, rng.integers(0, n_tab, n), -1)

    # discounts: campaign offers, else sensitivity-driven organic promotions (more on sale days)
    promo = ctx.clocks[0].is_promo(ts)
    p_disc = np.clip(0.04 + 0.45 * persons.disc_sens[person] * np.where(promo, 1.8, 1.0), 0, 0.95)
    organic_disc = rng.random(n) < p_disc
    levels = np.array(list(_ORGANIC_COUPONS))
    pct = np.where(organic_disc, levels[rng.integers(0, len(levels), n)], 0.0)
    coupon = np.where(
        organic_disc & (rng.random(n) < 0.7),
        np.array(list(_ORGANIC_COUPONS.values()))[np.searchsorted(levels, pct).clip(0, len(levels) - 1)],
        "",
    )
    welcome = trial & (rng.random(n) < 0.5)
    pct = np.where(welcome, 0.1, pct)
    coupon = np.where(welcome, "WELCOME10", coupon)
    has_c = induced_by >= 0
    c_idx = np.maximum(induced_by, 0)
    camp_disc = has_c & (camp.discount_pct[c_idx] > 0)
    pct = np.where(camp_disc, camp.discount_pct[c_idx], pct)
    coupon = np.where(camp_disc, camp.coupon_code[c_idx], coupon)

    # credited campaign: utm on induced orders; paid campaigns catch some organic web/app traffic
    credited = np.where(has_c & (rng.random(n) < 0.6) & (channel != 3), induced_by, -1)
    online = (channel <= 1) & (credited < 0) & (rng.random(n) < 0.08)
    for c in np.flatnonzero(~camp.person_level):
        active = online & (ts >= camp.started_at[c]) & (ts <= camp.ended_at[c])
        credited = np.where(active, c, credited)

    usd = (channel == 2) & (rng.random(n) < 0.01)

    # Gamma-Gamma order value (net); lines chosen so the basket lands near it
    value = rng.gamma(persons.p_gg[person], 1.0 / persons.nu[person])
    n_lines = 1 + np.minimum(rng.poisson(0.55 + value / 500.0), 3)
    line_order = np.repeat(np.arange(n), n_lines)
    line_start = np.cumsum(n_lines) - n_lines
    line_no = np.arange(len(line_order)) - line_start[line_order] + 1
    m = len(line_order)
    gross = (value / (1.0 - pct) / n_lines)[line_order]
    r1, r2 = rng.random(m), rng.random(m)
    qty = 1 + ((gross < 80) & (r1 < 0.5)).astype(np.int64) + ((gross < 40) & (r2 < 0.5)).astype(np.int64)
    unit_target = gross / qty * rng.lognormal(0.0, 0.25, m)
    lp = person[line_order]
    cat_w = np.array([p.category_weights for p in PERSONAS])
    other = categorical(rng, cat_w[persons.persona[lp]])
    category = np.where(rng.random(m) < 0.6, persons.pref_cat[lp], other)
    product = cat.nearest(category, unit_target * 100.0)
    for _ in range(3):  # one line per product: re-pick a product already on the order
        dup = _duplicate_in_group(line_order, product)
        if not dup.any():
            break
        product[dup] = cat.random_in(rng, category[dup])
    price = cat.price_cents[product]
    unit = np.where(usd[line_order], np.round(price / USD_CNY), price).astype(np.int64)
    disc = np.round(qty * unit * pct[line_order]).astype(np.int64)
    net = qty * unit - disc
    net_cny = np.where(usd[line_order], np.round(net * USD_CNY), net)
    revenue = np.bincount(line_order, weights=net_cny, minlength=n).astype(np.int64)

    # numbering follows time: shop orders on their own, POS sales and returns together
    seq = np.zeros(n, dtype=np.int64)
    store = channel == 3
    seq[~store] = np.arange(int((~store).sum()))
    sales = np.flatnonzero(store)
    ret_order = np.flatnonzero(store & (status == 1))
    ret_ts = ts[ret_order] + rng.integers(DAY_S, 14 * DAY_S, len(ret_order))
    pos_ts = np.concatenate([ts[sales], ret_ts])
    rank = np.empty(len(pos_ts), dtype=np.int64)
    rank[np.argsort(pos_ts, kind="stable")] = np.arange(len(pos_ts))
    seq[sales] = rank[: len(sales)]
    return Orders(
        person=person,
        ts=ts,
        channel=channel,
        status=status,
        campaign=credited,
        induced_by=induced_by,
        trial=trial,
        usd=usd,
        pct=pct,
        coupon=coupon,
        seq=seq,
        with_account=with_account,
        tablet=tablet,
        revenue_cents=revenue,
        line_start=line_start,
        line_count=n_lines,
        line_order=line_order,
        line_no=line_no,
        product=product,
        qty=qty,
        unit_cents=unit,
        disc_cents=disc,
        ret_order=ret_order,
        ret_ts=ret_ts,
        ret_seq=rank[len(sales) :],
    )


def _duplicate_in_group(group: np.ndarray, value: np.ndarray) -> np.ndarray:
    """Rows whose value already occurred earlier in the same group."""
    order = np.lexsort((np.arange(len(group)), value, group))
    g, v = group[order], value[order]
    dup_sorted = np.zeros(len(order), dtype=bool)
    dup_sorted[1:] = (g[1:] == g[:-1]) & (v[1:] == v[:-1])
    dup = np.zeros(len(order), dtype=bool)
    dup[order] = dup_sorted
    return dup


def campaign_truth(ctx: Context, orders: Orders, outcome: CampaignOutcome) -> dict[str, np.ndarray]:
    """Per-campaign sums for the true uplift (summed over chunks by the caller).

    Conversion = any order (any channel, any status) in (touched_at, touched_at + window].
    """
    camp = ctx.campaigns
    tch = outcome.touches
    key_shift = np.int64(1) << np.int64(34)
    base = ctx.time.hist0
    okeys = np.sort(orders.person * key_shift + (orders.ts - base))
    w = camp.window_days[tch["campaign"]] * DAY_S
    lo = tch["person"] * key_shift + (tch["ts"] - base)
    cnt = np.searchsorted(okeys, lo + w, side="right") - np.searchsorted(okeys, lo, side="right")
    treated = ~tch["control"]
    own = (treated & tch["potential"]).astype(np.int64)
    base_conv = (cnt - own) > 0
    effect = tch["potential"] & ~base_conv
    k = len(camp)

    def per(mask: np.ndarray) -> np.ndarray:
        return np.bincount(tch["campaign"][mask], minlength=k).astype(np.int64)

    conv = cnt > 0
    return {
        "n_targeted": per(np.ones(len(treated), bool)),
        "n_treated": per(treated),
        "n_control": per(~treated),
        "conversions_treated": per(treated & conv),
        "conversions_control": per(~treated & conv),
        "effect_count": per(effect),
    }


# ----------------------------------------------------------------------------- sessions


@dataclass
class Sessions:
    """Web or app sessions before expansion into events."""

    person: np.ndarray
    anchor: np.ndarray  # start time, or end time for purchase sessions
    end_anchored: np.ndarray
    n_view_extra: np.ndarray
    n_cart: np.ndarray
    checkout: np.ndarray
    logged_in: np.ndarray
    login_event: np.ndarray
    campaign: np.ndarray
    referrer: np.ndarray
    order: np.ndarray  # -1 when not a purchase session
    entry: np.ndarray  # cookie or device registry entry; -2 for a shared tablet
    tablet: np.ndarray  # tablet index or -1


def _browse(
    ctx: Context, rng: np.random.Generator, persons: Persons, rate: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Poisson browse sessions in operational time over each person's observed active life."""
    t = ctx.time
    a = np.maximum(persons.acq_ts, t.start)
    b = np.minimum(persons.act_end, t.obs_end)
    ok = (b > a) & (rate > 0)
    oa = per_persona(ctx.clocks, persons.persona, a.astype(np.float64), "to_op")
    ob = per_persona(ctx.clocks, persons.persona, b.astype(np.float64), "to_op")
    span = np.where(ok, ob - oa, 0.0)
    cnt = rng.poisson(rate * span)
    person = np.repeat(np.arange(persons.n), cnt)
    tau = oa[person] + rng.random(len(person)) * span[person]
    ts = per_persona(ctx.clocks, persons.persona[person], tau, "from_op")
    return person, ts


def make_sessions(
    ctx: Context,
    rng: np.random.Generator,
    persons: Persons,
    ident: Identity,
    orders: Orders,
    outcome: CampaignOutcome,
    app: bool,
) -> Sessions:
    """Browse sessions, campaign click-through sessions and the sessions that end in an order."""
    t = ctx.time
    camp = ctx.campaigns
    rate = persons.app_rate if app else persons.web_rate
    b_person, b_ts = _browse(ctx, rng, persons, rate)
    nb = len(b_person)
    cart_p = np.array([p.cart_abandon for p in PERSONAS])[persons.persona[b_person]]
    n_view = rng.geometric(0.4, nb) - 1  # a third of visits bounce
    cart = (n_view > 0) & (rng.random(nb) < cart_p)
    b_cart = cart * (1 + (rng.random(nb) < 0.3))
    b_checkout = cart & (rng.random(nb) < 0.25)
    ref = rng.choice(3, size=nb, p=[0.5, 0.35, 0.15])

    cl = outcome.clicks
    cm = cl["app"] == app
    c_person, c_ts = cl["person"][cm], cl["ts"][cm]
    nc = len(c_person)

    in_window = t.observed(orders.ts)
    om = np.flatnonzero(in_window & (orders.channel == (1 if app else 0)))
    o_person = orders.person[om]
    camp_ref = np.array([REF_BY_CHANNEL[str(ch)] for ch in camp.channel], dtype=np.int64)
    o_camp = orders.campaign[om]
    o_ref = np.where(
        o_camp >= 0, camp_ref[np.maximum(o_camp, 0)], rng.choice(3, size=len(om), p=[0.5, 0.35, 0.15])
    )
    no = len(om)

    person = np.concatenate([b_person, c_person, o_person])
    anchor = np.concatenate([b_ts, c_ts, orders.ts[om]])
    end_anchored = np.concatenate([np.zeros(nb + nc, bool), np.ones(no, bool)])
    n_view_extra = np.concatenate([n_view, rng.geometric(0.5, nc), rng.poisson(1.5, no)])
    n_cart = np.concatenate([b_cart, (rng.random(nc) < 0.2).astype(np.int64), np.zeros(no, np.int64)])
    checkout = np.concatenate([b_checkout, np.zeros(nc, bool), np.ones(no, bool)])
    campaign = np.concatenate([np.full(nb, -1), cl["campaign"][cm], orders.campaign[om]])
    referrer = np.concatenate([ref, cl["referrer"][cm], o_ref])
    order_idx = np.concatenate([np.full(nb + nc, -1), om])
    s = len(person)
    login_p = np.array([p.login_share for p in PERSONAS])[persons.persona[person]]
    has_acc = ident.account[person] >= 0
    if not app:
        has_acc &= ident.account_email[person] >= 0
    logged_in = has_acc & (rng.random(s) < login_p)
    purchase = order_idx >= 0
    logged_in[purchase] = orders.with_account[order_idx[purchase]]
    login_event = logged_in & (rng.random(s) < 0.6)

    entry = ident.device_at(person, anchor) if app else ident.cookie_at(person, anchor)
    tablet = np.full(s, -1, dtype=np.int64)
    if app:  # an app order placed on a shared store tablet happened in a tablet session
        tablet[purchase] = orders.tablet[order_idx[purchase]]
        login_event[tablet >= 0] = True
    entry = np.where(tablet >= 0, -1, entry)
    keep = (entry >= 0) | (tablet >= 0)
    return Sessions(
        person=person[keep],
        anchor=anchor[keep],
        end_anchored=end_anchored[keep],
        n_view_extra=n_view_extra[keep],
        n_cart=n_cart[keep],
        checkout=checkout[keep],
        logged_in=logged_in[keep],
        login_event=login_event[keep],
        campaign=campaign[keep],
        referrer=referrer[keep],
        order=order_idx[keep],
        entry=entry[keep],
        tablet=tablet[keep],
    )


EVENT_CODES = ("open", "login", "product_view", "add_to_cart", "checkout")


@dataclass
class Events:
    """Session events, sorted by time."""

    session: np.ndarray  # index into the (time-sorted) sessions
    session_seq: np.ndarray  # session running number
    kind: np.ndarray  # index into EVENT_CODES
    ts: np.ndarray
    product: np.ndarray  # -1 none
    with_account: np.ndarray


def expand_events(
    ctx: Context, rng: np.random.Generator, persons: Persons, orders: Orders, sess: Sessions
) -> tuple[Events, np.ndarray]:
    """Expand sessions into ordered events; returns events and the session time order."""
    t = ctx.time
    s = len(sess.person)
    purchase = sess.order >= 0
    n_lines = np.where(purchase, gather(orders.line_count, sess.order, 0), 0)
    counts = np.stack(
        [
            np.ones(s, np.int64),
            sess.login_event.astype(np.int64),
            sess.n_view_extra + n_lines,
            np.where(purchase, n_lines, sess.n_cart),
            sess.checkout.astype(np.int64),
        ],
        axis=1,
    )
    total = counts.sum(axis=1)
    flat = counts.ravel()
    ev_session = np.repeat(np.arange(s), total)
    kind = np.repeat(np.tile(np.arange(5), s), flat)
    seg_start = np.cumsum(flat) - flat
    pos = np.arange(len(kind)) - np.repeat(seg_start, flat)
    gaps = rng.exponential(40.0, len(kind)).astype(np.int64) + 3
    first = np.cumsum(total) - total
    gaps[first] = 0
    cum = np.cumsum(gaps)
    cum -= np.repeat(cum[first], total)
    duration = np.repeat(cum[np.cumsum(total) - 1], total) if len(kind) else cum
    start = np.where(
        sess.end_anchored[ev_session], sess.anchor[ev_session] - duration, sess.anchor[ev_session]
    )
    ts = start + cum

    # products: purchase sessions view and add the order's lines; otherwise the favourite category
    cat = ctx.catalogue
    p_person = sess.person[ev_session]
    cat_choice = np.where(
        rng.random(len(kind)) < 0.7,
        persons.pref_cat[p_person],
        rng.integers(0, len(cat.block_start), len(kind)),
    )
    product = cat.random_in(rng, cat_choice)
    ev_order = sess.order[ev_session]
    extra = sess.n_view_extra[ev_session]
    is_line_view = (ev_order >= 0) & (kind == 2) & (pos >= extra)
    is_line_cart = (ev_order >= 0) & (kind == 3)
    line_pos = np.where(is_line_view, pos - extra, pos)
    line_idx = gather(orders.line_start, ev_order, 0) + line_pos
    use_line = is_line_view | is_line_cart
    product = np.where(
        use_line,
        gather(orders.product, np.where(use_line, line_idx, -1), -1),
        product,
    )
    product = np.where((kind == 2) | (kind == 3), product, -1)
    with_account = sess.logged_in[ev_session] & (~sess.login_event[ev_session] | (kind >= 1))

    keep = t.observed(ts)
    order = np.flatnonzero(keep)
    order = order[np.argsort(ts[order], kind="stable")]
    # session numbers follow session start time
    s_start = np.full(s, NEVER, dtype=np.int64)
    np.minimum.at(s_start, ev_session, start)
    s_order = np.argsort(s_start, kind="stable")
    s_rank = np.empty(s, dtype=np.int64)
    s_rank[s_order] = np.arange(s)
    ev = Events(
        session=ev_session[order],
        session_seq=s_rank[ev_session[order]],
        kind=kind[order],
        ts=ts[order],
        product=product[order],
        with_account=with_account[order],
    )
    return ev, s_order


# ----------------------------------------------------------------------------- tickets


TICKET_ORDER_TOPICS = ("delivery_delay", "product_quality", "wrong_item", "payment_issue", "invoice_request")
TICKET_GENERIC_TOPICS = ("account_access", "membership_points", "privacy_request", "product_question")
CONTACT_CHANNELS = ("phone", "chat", "email", "social")
RESOLUTIONS = ("resolved", "refunded", "replaced", "escalated", "no_action", "rejected")


def make_tickets(
    ctx: Context, rng: np.random.Generator, persons: Persons, orders: Orders
) -> dict[str, np.ndarray]:
    """Service tickets: after some orders (returns above all) and a few generic ones."""
    t = ctx.time
    obs = np.flatnonzero(t.observed(orders.ts))
    op = orders.person[obs]
    rate = np.array([p.ticket_rate for p in PERSONAS])[persons.persona[op]]
    returned = orders.status[obs] == 1
    p_ticket = rate * (1.6 - persons.happiness[op]) + 0.35 * returned
    tk = rng.random(len(obs)) < p_ticket
    o_person = op[tk]
    o_ts = orders.ts[obs][tk] + rng.integers(2 * HOUR_S, 10 * DAY_S, int(tk.sum()))
    o_topic = np.where(
        returned[tk],
        "return_request",
        np.array(TICKET_ORDER_TOPICS)[rng.integers(0, len(TICKET_ORDER_TOPICS), int(tk.sum()))],
    )

    a = np.maximum(persons.acq_ts, t.start)
    b = np.minimum(persons.act_end, t.obs_end)
    years = np.maximum(b - a, 0) / (365.25 * DAY_S)
    g_cnt = rng.poisson(np.where(persons.is_prospect, 0.03, 0.1) * years)
    g_person = np.repeat(np.arange(persons.n), g_cnt)
    g_ts = a[g_person] + (rng.random(len(g_person)) * (b - a)[g_person]).astype(np.int64)
    g_topic = np.array(TICKET_GENERIC_TOPICS)[rng.integers(0, len(TICKET_GENERIC_TOPICS), len(g_person))]

    person = np.concatenate([o_person, g_person])
    opened = np.concatenate([o_ts, g_ts])
    topic = np.concatenate([o_topic, g_topic])
    keep = t.observed(opened)
    person, opened, topic = person[keep], opened[keep], topic[keep]
    order = np.argsort(opened, kind="stable")
    person, opened, topic = person[order], opened[order], topic[order]
    k = len(person)
    channel = rng.choice(len(CONTACT_CHANNELS), size=k, p=[0.35, 0.35, 0.2, 0.1])
    closed = opened + rng.exponential(28 * HOUR_S, k).astype(np.int64) + 600
    never = rng.random(k) < 0.05
    closed = np.where(never | (closed > t.obs_end), NEVER, closed)
    is_closed = closed < NEVER
    happy = persons.happiness[person]
    ret = topic == "return_request"
    res = np.where(
        ret,
        rng.choice([1, 2, 5], size=k, p=[0.7, 0.2, 0.1]),
        rng.choice([0, 2, 1, 3, 4], size=k, p=[0.6, 0.1, 0.1, 0.1, 0.1]),
    )
    bad = np.isin(res, [3, 4, 5])
    csat_raw = 1 + 4 * happy + rng.normal(0, 0.6, k) - 1.2 * bad
    csat = np.where(is_closed & (rng.random(k) < 0.6), np.clip(np.round(csat_raw), 1, 5), -1).astype(np.int64)
    nps_raw = 10 * happy + rng.normal(0, 1.5, k) - 1.5 * bad
    nps = np.where(is_closed & (rng.random(k) < 0.45), np.clip(np.round(nps_raw), 0, 10), -1).astype(np.int64)
    return {
        "person": person,
        "opened": opened,
        "closed": closed,
        "channel": channel,
        "topic": topic,
        "resolution": np.where(is_closed, res, -1),
        "csat": csat,
        "nps": nps,
    }


# ----------------------------------------------------------------------------- social


SOCIAL_KINDS = ("follow", "unfollow", "share", "message", "like")


def make_social(
    ctx: Context, rng: np.random.Generator, persons: Persons, ident: Identity, outcome: CampaignOutcome
) -> dict[str, np.ndarray]:
    """Follows, organic likes / shares / messages, unfollows, and campaign interactions."""
    t = ctx.time
    person, plat = np.nonzero(ident.open_ids >= 0)
    follow = ident.follow_ts[person, plat]
    died = persons.died_ts[person] < NEVER
    unf = rng.random(len(person)) < np.where(died, 0.3, 0.08)
    unf_ts = np.where(
        unf, follow + (rng.random(len(person)) * np.maximum(t.obs_end - follow, 1)).astype(np.int64), NEVER
    )
    a = np.maximum(follow, t.start)
    b = np.minimum(np.minimum(unf_ts, persons.act_end[person]), t.obs_end)
    span = np.maximum(b - a, 0) / (7 * DAY_S)
    rate = 0.02 + 0.08 * persons.email_open[person]
    cnt = rng.poisson(rate * span)
    o = np.repeat(np.arange(len(person)), cnt)
    o_ts = a[o] + (rng.random(len(o)) * (b - a)[o]).astype(np.int64)
    o_kind = np.array(["like", "share", "message"])[rng.choice(3, size=len(o), p=[0.55, 0.1, 0.35])]

    sc = outcome.social
    sp = sc["person"]
    s_plat = sc["platform"]
    all_person = np.concatenate([person, person, person[o], sp])
    all_plat = np.concatenate([plat, plat, plat[o], s_plat])
    all_ts = np.concatenate([follow, unf_ts, o_ts, sc["ts"]])
    all_kind = np.concatenate(
        [np.full(len(person), "follow"), np.full(len(person), "unfollow"), o_kind, sc["kind"]]
    )
    all_campaign = np.concatenate([np.full(2 * len(person) + len(o), -1), sc["campaign"]])
    keep = t.observed(all_ts)
    order = np.flatnonzero(keep)
    order = order[np.argsort(all_ts[order], kind="stable")]
    return {
        "person": all_person[order],
        "platform": all_plat[order],
        "ts": all_ts[order],
        "kind": all_kind[order],
        "campaign": all_campaign[order],
    }
