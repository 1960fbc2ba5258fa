"""Persons of one chunk: traits, the BG/NBD purchase process, and their identifiers.

Everything here is drawn per chunk from the chunk's own random streams and is vectorised
over persons; nothing loops per person.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from scipy import special

from orchestration.sample_data import identifiers as ids
from orchestration.sample_data.catalogue import (
    CITIES,
    EMAIL_DOMAIN_WEIGHTS,
    EMAIL_DOMAINS,
    GIVEN_NAMES,
    MOBILE_PREFIXES,
    SURNAMES,
    Campaigns,
    Catalogue,
    Stores,
)
from orchestration.sample_data.personas import ACQUISITION_CHANNELS, PERSONAS
from orchestration.sample_data.seasonality import DAY_S, SeasonalClock, to_epoch

NEVER = np.iinfo(np.int64).max // 4  # "no such time" sentinel that survives additions
HISTORY_BEFORE_START_DAYS = 3 * 365


@dataclass(frozen=True)
class TimeFrame:
    """The simulation's time bounds in UTC epoch seconds (ends inclusive)."""

    start: int  # start_date 00:00:00
    obs_end: int  # observation_end 23:59:59
    hold_end: int  # holdout_end 23:59:59
    hist0: int  # earliest acquisition (before start: left-censored history)

    @classmethod
    def of(cls, start_date: date, observation_end: date, holdout_end: date) -> TimeFrame:
        start = to_epoch(start_date)
        return cls(
            start=start,
            obs_end=to_epoch(observation_end) + DAY_S - 1,
            hold_end=to_epoch(holdout_end) + DAY_S - 1,
            hist0=start - HISTORY_BEFORE_START_DAYS * DAY_S,
        )

    def observed(self, ts: np.ndarray) -> np.ndarray:
        """Mask of timestamps inside the landing window."""
        return (ts >= self.start) & (ts <= self.obs_end)


@dataclass(frozen=True)
class Context:
    """Global, read-only inputs every chunk shares."""

    seed: int
    chunk_size: int
    time: TimeFrame
    clocks: tuple[SeasonalClock, ...]  # one per persona
    catalogue: Catalogue
    stores: Stores
    campaigns: Campaigns


def make_clocks(start_date: date, holdout_end: date) -> tuple[SeasonalClock, ...]:
    """One seasonal clock per persona, covering the pre-start history and the holdout."""
    first = start_date - timedelta(days=HISTORY_BEFORE_START_DAYS + 2)
    last = holdout_end + timedelta(days=2)
    return tuple(SeasonalClock(first, last, p.seasonal_amplitude) for p in PERSONAS)


def per_persona(
    clocks: tuple[SeasonalClock, ...], persona: np.ndarray, values: np.ndarray, fn: str
) -> np.ndarray:
    """Apply ``clock.to_op`` / ``clock.from_op`` with each row's persona clock."""
    out = np.empty(len(values), dtype=np.float64 if fn == "to_op" else np.int64)
    for k, clock in enumerate(clocks):
        m = persona == k
        if m.any():
            out[m] = getattr(clock, fn)(values[m])
    return out


@dataclass
class Persons:
    """Per-person traits of one chunk; every array has one entry per person."""

    n: int
    pid: np.ndarray
    persona: np.ndarray
    is_prospect: np.ndarray
    household: np.ndarray
    in_household: np.ndarray
    acq_ts: np.ndarray
    acq_channel: np.ndarray
    lam: np.ndarray
    p: np.ndarray
    p_gg: np.ndarray
    q_gg: np.ndarray
    gamma_gg: np.ndarray
    nu: np.ndarray
    uplift: np.ndarray
    disc_sens: np.ndarray
    happiness: np.ndarray
    channel_p: np.ndarray  # (n, 4) web, app, marketplace, store
    pref_cat: np.ndarray
    email_open: np.ndarray
    email_click: np.ndarray
    push_open: np.ndarray
    sms_click: np.ndarray
    web_rate: np.ndarray
    app_rate: np.ndarray
    web_user: np.ndarray
    app_user: np.ndarray
    has_account: np.ndarray
    member: np.ndarray
    signup_ts: np.ndarray
    social: np.ndarray
    home_store: np.ndarray
    city: np.ndarray
    consent_email: np.ndarray
    consent_sms: np.ndarray
    consent_push: np.ndarray
    consent_ts: np.ndarray  # (n, 3) email, sms, push opt-in time (NEVER when not consented)
    died_ts: np.ndarray
    act_end: np.ndarray  # when the person stops visiting (death plus a tail, or prospect drift)

    @property
    def mean_order_value(self) -> np.ndarray:
        """True personal mean order value p_gg / ν (CNY)."""
        return self.p_gg / self.nu


def _persona_param(name: str) -> np.ndarray:
    return np.array([getattr(p, name) for p in PERSONAS], dtype=np.float64)


def draw_persons(ctx: Context, rng: np.random.Generator, chunk: int, n: int) -> Persons:
    """Draw the persons of a chunk: persona, process parameters, channels, consent, household."""
    t = ctx.time
    shares = _persona_param("share")
    persona = rng.choice(len(PERSONAS), size=n, p=shares / shares.sum())
    pid = chunk * ctx.chunk_size + np.arange(n, dtype=np.int64) + 1
    prospect = np.array([p.is_prospect for p in PERSONAS])[persona]

    def param(name: str) -> np.ndarray:
        return _persona_param(name)[persona]

    # BG/NBD: λ ~ Gamma(r, rate α); p ~ Beta(a, b) through a Gaussian copula so that unhappy
    # people (low CSAT / NPS later) are the ones who tend to drop out.
    lam = rng.gamma(param("r"), 1.0 / param("alpha"))
    z = rng.standard_normal(n)
    p = special.betaincinv(param("a"), param("b"), special.ndtr(z))
    p = np.clip(p, 1e-6, 1 - 1e-6)
    happiness = special.ndtr(-0.6 * z + 0.8 * rng.standard_normal(n))
    lam = np.where(prospect, 0.0, lam)
    p = np.where(prospect, np.nan, p)
    # Gamma-Gamma: ν ~ Gamma(q, rate γ)
    nu = rng.gamma(param("q_gg"), 1.0 / param("gamma_gg"))

    # acquisition: uniform in operational time, so new customers also cluster on sale days
    pre = rng.random(n) < param("pre_start_share")
    u = rng.random(n)
    skew = rng.beta(param("acquisition_recency"), 1.0)
    acq_ts = np.empty(n, dtype=np.int64)
    for k, clock in enumerate(ctx.clocks):
        m = persona == k
        if not m.any():
            continue
        o0, o1, o2 = clock.to_op(np.array([t.hist0, t.start, t.obs_end]))
        tau = np.where(pre[m], o0 + u[m] * (o1 - o0), o1 + skew[m] * (o2 - o1))
        acq_ts[m] = clock.from_op(tau)
    acq_ts = np.clip(acq_ts, t.hist0, t.obs_end)

    acq_mix = np.array([p.acquisition_mix for p in PERSONAS])[persona]
    acq_channel = categorical(rng, acq_mix)

    # channel mix: Dirichlet around the persona mix; drop tiny shares
    base_mix = np.array([p.channel_mix for p in PERSONAS])[persona]
    mix = rng.gamma(base_mix * 6.0 + 1e-3)
    mix /= mix.sum(axis=1, keepdims=True)
    mix = np.where(mix < 0.06, 0.0, mix)
    mix[mix.sum(axis=1) == 0, 0] = 1.0
    store_acq = acq_channel == ACQUISITION_CHANNELS.index("store")
    mix[store_acq, 3] = np.maximum(mix[store_acq, 3], 0.3)
    mix /= mix.sum(axis=1, keepdims=True)

    cat_w = np.array([p.category_weights for p in PERSONAS])[persona]
    pref_cat = categorical(rng, cat_w)

    def beta_around(mean: np.ndarray, conc: float = 8.0) -> np.ndarray:
        m = np.clip(mean, 1e-3, 1 - 1e-3)
        return rng.beta(m * conc, (1 - m) * conc)

    web_user = (mix[:, 0] > 0) | (rng.random(n) < param("web_user_prob"))
    app_user = (mix[:, 1] > 0) | (rng.random(n) < param("app_user_prob"))
    web_rate = np.where(web_user, rng.gamma(2.0, param("web_sessions_per_week") / 2.0), 0.0)
    app_rate = np.where(app_user, rng.gamma(2.0, param("app_sessions_per_week") / 2.0), 0.0)
    has_account = np.where(prospect, rng.random(n) < 0.3, (mix[:, 0] + mix[:, 1]) > 0)
    has_account |= app_user & ~prospect

    member = rng.random(n) < param("member_prob")
    signup_ts = np.where(
        prospect,
        acq_ts,
        acq_ts + (rng.exponential(30.0, n) * DAY_S).astype(np.int64),
    )
    member &= signup_ts <= t.obs_end
    signup_ts = np.where(member, signup_ts, NEVER)

    consent = np.stack([rng.random(n) < 0.72, rng.random(n) < 0.55, app_user & (rng.random(n) < 0.6)], axis=1)
    consent_ts = np.where(
        consent, (acq_ts + (rng.exponential(3.0, (3, n)) * DAY_S).astype(np.int64)).T, NEVER
    )

    # households: a few % of persons, in groups of 2-3, share one e-mail
    in_hh = rng.random(n) < 0.05
    members = np.flatnonzero(in_hh)
    sizes = rng.choice([2, 3], size=max(1, len(members) // 2), p=[0.75, 0.25])
    group = np.repeat(np.arange(len(sizes)), sizes)[: len(members)]
    counts = np.bincount(group, minlength=len(sizes))
    ok = counts[group] >= 2
    household = pid.copy()
    first_of_group = np.full(len(sizes), -1, dtype=np.int64)
    if len(members):
        first_of_group[group[::-1]] = members[::-1]
        household[members[ok]] = pid[first_of_group[group[ok]]]
    in_hh = np.zeros(n, dtype=bool)
    in_hh[members[ok]] = True

    w_city = np.array([c[3] for c in CITIES])
    city = rng.choice(len(CITIES), size=n, p=w_city / w_city.sum())
    # home store: a store in the person's city when there is one, else any store
    store_city = ctx.stores.city
    any_store = rng.integers(0, len(store_city), n)
    home_store = any_store.copy()
    for c in np.unique(city):
        s = np.flatnonzero(store_city == c)
        m = city == c
        if len(s):
            home_store[m] = s[rng.integers(0, len(s), int(m.sum()))]

    return Persons(
        n=n,
        pid=pid,
        persona=persona,
        is_prospect=prospect,
        household=household,
        in_household=in_hh,
        acq_ts=acq_ts,
        acq_channel=acq_channel,
        lam=lam,
        p=p,
        p_gg=param("p_gg"),
        q_gg=param("q_gg"),
        gamma_gg=param("gamma_gg"),
        nu=nu,
        uplift=np.where(prospect, 0.0, beta_around(param("uplift_mean"), 6.0) if n else np.zeros(0)),
        disc_sens=rng.beta(param("ds_a"), param("ds_b")),
        happiness=happiness,
        channel_p=mix,
        pref_cat=pref_cat,
        email_open=beta_around(param("email_open")),
        email_click=beta_around(param("email_click")),
        push_open=beta_around(param("push_open")),
        sms_click=beta_around(param("sms_click")),
        web_rate=web_rate,
        app_rate=app_rate,
        web_user=web_user,
        app_user=app_user,
        has_account=has_account,
        member=member,
        signup_ts=signup_ts,
        social=rng.random(n) < param("social_prob"),
        home_store=home_store,
        city=city,
        consent_email=consent[:, 0],
        consent_sms=consent[:, 1],
        consent_push=consent[:, 2],
        consent_ts=consent_ts,
        died_ts=np.full(n, NEVER, dtype=np.int64),
        act_end=np.full(n, NEVER),
    )


def categorical(rng: np.random.Generator, weights: np.ndarray) -> np.ndarray:
    """One categorical draw per row of a (n, k) weight matrix."""
    if len(weights) == 0:
        return np.zeros(0, dtype=np.int64)
    cum = np.cumsum(weights, axis=1)
    u = rng.random(len(weights)) * cum[:, -1]
    return np.minimum((u[:, None] >= cum).sum(axis=1), weights.shape[1] - 1)


@dataclass
class Purchases:
    """Organic purchase events from the BG/NBD process, sorted by (person, time)."""

    person: np.ndarray
    ts: np.ndarray
    is_trial: np.ndarray


def draw_purchases(ctx: Context, rng: np.random.Generator, persons: Persons) -> Purchases:
    """Simulate BG/NBD exactly in operational time and set each person's death time.

    Per buyer: the trial purchase at acquisition (time 0 of BG/NBD); repeat purchases arrive
    as Poisson(λ) in operational weeks; after each repeat purchase the person dies with
    probability p. Equivalently: M ~ Poisson(λ T) arrivals over the horizon T ignoring death,
    K ~ Geometric(p) repeat purchases until death, and the person makes min(K, M) repeats and
    is dead at the horizon iff K ≤ M. The first n of M uniform order statistics are drawn
    without drawing all M: U_(j) = S_j / (S_n + R) with S the cumulative sum of n unit
    exponentials and R ~ Gamma(M - n + 1). Work is proportional to purchases actually made.
    """
    t = ctx.time
    buyers = np.flatnonzero(~persons.is_prospect)
    pers = persons.persona[buyers]
    tau0 = per_persona(ctx.clocks, pers, persons.acq_ts[buyers].astype(np.float64), "to_op")
    tau_end = np.array([c.to_op(np.array([t.hold_end]))[0] for c in ctx.clocks])[pers]
    horizon = np.maximum(tau_end - tau0, 0.0)
    lam = persons.lam[buyers]
    m = rng.poisson(lam * horizon)
    k = rng.geometric(persons.p[buyers])
    n_rep = np.minimum(k, m)
    died = k <= m
    total = int(n_rep.sum())
    owner = np.repeat(np.arange(len(buyers)), n_rep)
    e = rng.exponential(1.0, total)
    cs = np.cumsum(e)
    ends = np.cumsum(n_rep)
    starts = ends - n_rep
    base = np.where(starts > 0, cs[np.maximum(starts - 1, 0)], 0.0) if total else np.zeros(len(buyers))
    s = cs - np.repeat(base, n_rep)
    s_n = np.zeros(len(buyers))
    has = n_rep > 0
    s_n[has] = s[ends[has] - 1]
    r = rng.gamma(np.maximum(m - n_rep + 1, 1).astype(np.float64))
    u = s / np.repeat(s_n + r, n_rep)
    tau = tau0[owner] + u * horizon[owner]
    rep_ts = per_persona(ctx.clocks, pers[owner], tau, "from_op")
    rep_ts = np.clip(rep_ts, persons.acq_ts[buyers][owner] + 60, t.hold_end)

    died_ts = np.full(len(buyers), NEVER, dtype=np.int64)
    dm = died & has
    died_ts[dm] = rep_ts[ends[dm] - 1]
    persons.died_ts[buyers] = died_ts

    person = np.concatenate([buyers, buyers[owner]])
    ts = np.concatenate([persons.acq_ts[buyers], rep_ts])
    trial = np.concatenate([np.ones(len(buyers), bool), np.zeros(total, bool)])
    order = np.lexsort((ts, person))

    # browsing continues a little after death; prospects drift away after a while
    tail = (rng.exponential(45.0, persons.n) * DAY_S).astype(np.int64)
    drift = persons.acq_ts + (rng.exponential(400.0, persons.n) * DAY_S).astype(np.int64)
    persons.act_end = np.where(
        persons.is_prospect, drift, np.where(persons.died_ts < NEVER, persons.died_ts + tail, NEVER)
    )
    return Purchases(person=person[order], ts=ts[order], is_trial=trial[order])


# ----------------------------------------------------------------------------- identifiers


@dataclass
class Identity:
    """Identifier registries of a chunk and each person's pointers into them (-1 = none)."""

    email: ids.Registry
    phone: ids.Registry
    accounts: ids.Registry
    member: ids.Registry
    card: ids.Registry
    device: ids.Registry
    cookie: ids.Registry
    open_id: ids.Registry
    email0: np.ndarray  # marketing / CRM e-mail (the household e-mail for household members)
    email1: np.ndarray  # second personal e-mail
    account_email: np.ndarray  # the e-mail the shop account is registered with
    phone0: np.ndarray
    phone1: np.ndarray
    phone_switch: np.ndarray  # time from which phone1 replaces phone0
    account: np.ndarray
    member_entry: np.ndarray
    card_entry: np.ndarray
    device0: np.ndarray
    device1: np.ndarray
    device_switch: np.ndarray  # time of the factory reset / new phone
    device_ios: np.ndarray  # per device entry
    cookie_first: np.ndarray
    cookie_count: np.ndarray
    web_from: np.ndarray
    web_to: np.ndarray
    open_ids: np.ndarray  # (n, 3) entries per SOCIAL_PLATFORMS
    open_bind_ts: np.ndarray  # (n, 3) when the open id was bound to the phone (NEVER if not)
    follow_ts: np.ndarray  # (n, 3)
    surname: np.ndarray
    given: np.ndarray

    def registries(self) -> list[ids.Registry]:
        return [
            self.email,
            self.phone,
            self.device,
            self.cookie,
            self.accounts,
            self.card,
            self.open_id,
            self.member,
        ]

    def device_at(self, person: np.ndarray, ts: np.ndarray) -> np.ndarray:
        """The app device a person uses at a time (after a reset, the new one)."""
        d1 = self.device1[person]
        return np.where((d1 >= 0) & (ts >= self.device_switch[person]), d1, self.device0[person])

    def phone_at(self, person: np.ndarray, ts: np.ndarray) -> np.ndarray:
        p1 = self.phone1[person]
        return np.where((p1 >= 0) & (ts >= self.phone_switch[person]), p1, self.phone0[person])

    def cookie_at(self, person: np.ndarray, ts: np.ndarray) -> np.ndarray:
        """Cookies rotate over the person's web life: equal time slices, one cookie each."""
        k = self.cookie_count[person]
        a = self.web_from[person]
        span = np.maximum(self.web_to[person] - a, 1)
        slot = np.clip(((ts - a) * k) // span, 0, np.maximum(k - 1, 0))
        return np.where(k > 0, self.cookie_first[person] + slot, -1)


def _registry(kind: str, owner: np.ndarray, canonical: pa.Array) -> ids.Registry:
    norm = ids.normalise_phone(canonical) if kind == "phone" else canonical
    if kind == "email":
        norm = ids.normalise_email(canonical)
    return ids.Registry(kind=kind, owner=owner, canonical=canonical, normalised=norm)


def _slots(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Owners of the entries for persons where ``mask`` holds, and each person's entry (-1)."""
    owner = np.flatnonzero(mask)
    entry = np.full(len(mask), -1, dtype=np.int64)
    entry[owner] = np.arange(len(owner))
    return owner, entry


def mint_identity(ctx: Context, rng: np.random.Generator, persons: Persons) -> Identity:
    """Create every identifier of every person of the chunk.

    Numbers are permutations of global person indexes, so values are unique across chunks
    by construction; only households (one e-mail) and store tablets are shared on purpose.
    """
    n = persons.n
    t = ctx.time
    pid = persons.pid
    prospect = persons.is_prospect
    surname = rng.integers(0, len(SURNAMES), n)
    given = rng.integers(0, len(GIVEN_NAMES), n)
    sur_py = np.array([s[1] for s in SURNAMES])
    giv_py = np.array([g[1] for g in GIVEN_NAMES])

    # ---- e-mails: slot 0 primary, slot 1 secondary; household members share slot 0
    has0 = (
        np.where(prospect, persons.member | (rng.random(n) < 0.5), rng.random(n) < 0.95)
        | persons.in_household
    )
    has1 = ~prospect & (rng.random(n) < 0.12)

    def personal(slot: int, mask: np.ndarray) -> pa.Array:
        idx = np.flatnonzero(mask)
        number = ids.scramble(2 * pid[idx] + slot, 1_000_000_000, 7_919_731)
        dom = rng.choice(
            len(EMAIL_DOMAINS), size=len(idx), p=EMAIL_DOMAIN_WEIGHTS / EMAIL_DOMAIN_WEIGHTS.sum()
        )
        sep = np.array([".", "_", ""])[rng.integers(0, 3, len(idx))]
        # letters then digits: the split is unambiguous and the number is unique per address
        local_named = ids.join(
            pa.array(giv_py[given[idx]]), pa.array(sep), pa.array(sur_py[surname[idx]]), ids.digits(number, 1)
        )
        local_qq = ids.digits(number + 100_000_000, 9)  # QQ mail: the QQ number is the address
        local = pc.if_else(pa.array(dom == 0), local_qq, local_named)
        return ids.join(local, "@", pa.array(np.array(EMAIL_DOMAINS)[dom]))

    hh_mask = persons.in_household & has0
    pers_mask0 = has0 & ~persons.in_household
    e0_personal = personal(0, pers_mask0)
    hh_idx = np.flatnonzero(hh_mask)
    # one family name per household (the head's), so all members carry the identical address
    surname[persons.in_household] = surname[persons.household[persons.in_household] - pid[0]]
    hh_num = ids.scramble(persons.household[hh_idx], 100_000_000, 5_101_311)
    hh_mail = ids.join(pa.array(sur_py[surname[hh_idx]]), "family", ids.digits(hh_num, 1), "@163.com")
    e1 = personal(1, has1)
    email_owner = np.concatenate([np.flatnonzero(pers_mask0), hh_idx, np.flatnonzero(has1)])
    email_canon = pa.concat_arrays([e0_personal, hh_mail, e1])
    email = _registry("email", email_owner, email_canon)
    email0 = np.full(n, -1, dtype=np.int64)
    email0[np.flatnonzero(pers_mask0)] = np.arange(int(pers_mask0.sum()))
    email0[hh_idx] = int(pers_mask0.sum()) + np.arange(len(hh_idx))
    email1 = np.full(n, -1, dtype=np.int64)
    email1[np.flatnonzero(has1)] = int(pers_mask0.sum()) + len(hh_idx) + np.arange(int(has1.sum()))
    # the shop account is registered with the secondary address for some people
    account_email = np.where((email1 >= 0) & (rng.random(n) < 0.4), email1, email0)

    # ---- phones
    hasp0 = np.where(prospect, rng.random(n) < 0.45, rng.random(n) < 0.96)
    hasp1 = hasp0 & (rng.random(n) < 0.05)

    def phones(slot: int, mask: np.ndarray) -> pa.Array:
        idx = np.flatnonzero(mask)
        tail = ids.scramble(2 * pid[idx] + slot, 100_000_000, 4_649_813)
        prefix = np.array(MOBILE_PREFIXES)[rng.integers(0, len(MOBILE_PREFIXES), len(idx))]
        return ids.join(pa.array(prefix), ids.digits(tail, 8))

    p0, p1 = phones(0, hasp0), phones(1, hasp1)
    phone = _registry(
        "phone", np.concatenate([np.flatnonzero(hasp0), np.flatnonzero(hasp1)]), pa.concat_arrays([p0, p1])
    )
    phone0 = np.full(n, -1, dtype=np.int64)
    phone0[np.flatnonzero(hasp0)] = np.arange(int(hasp0.sum()))
    phone1 = np.full(n, -1, dtype=np.int64)
    phone1[np.flatnonzero(hasp1)] = int(hasp0.sum()) + np.arange(int(hasp1.sum()))
    phone_switch = t.start + (rng.random(n) * (t.obs_end - t.start)).astype(np.int64)

    # ---- account, member, loyalty card
    acc_owner, account = _slots(persons.has_account)
    acc = _registry(
        "account_id", acc_owner, ids.prefixed("A", ids.scramble(pid[acc_owner], 10**9, 3_571_429), 9)
    )
    mem_owner, member_entry = _slots(persons.member)
    mem = _registry(
        "member_id", mem_owner, ids.prefixed("M", ids.scramble(pid[mem_owner], 10**9, 2_718_283), 9)
    )
    card_mask = persons.member & ((persons.channel_p[:, 3] > 0) | (rng.random(n) < 0.6))
    card_owner, card_entry = _slots(card_mask)
    card = _registry(
        "loyalty_card_number",
        card_owner,
        ids.prefixed("6288", ids.scramble(pid[card_owner], 10**12, 3_141_593), 12),
    )

    # ---- devices: app users; some get a second device after a reset / new phone
    dev_mask0 = persons.app_user
    dev_mask1 = dev_mask0 & (rng.random(n) < 0.15)
    d_owner0, d_owner1 = np.flatnonzero(dev_mask0), np.flatnonzero(dev_mask1)
    n_dev = len(d_owner0) + len(d_owner1)
    ios = rng.random(n_dev) < 0.45
    hex_ids = ids.hex_tokens(rng, n_dev, (8, 4, 4, 4, 12))
    dev_vals = pc.if_else(pa.array(ios), pc.utf8_upper(hex_ids), hex_ids)  # IDFA upper, Android lower
    device = _registry("device_id", np.concatenate([d_owner0, d_owner1]), dev_vals)
    device0 = np.full(n, -1, dtype=np.int64)
    device0[d_owner0] = np.arange(len(d_owner0))
    device1 = np.full(n, -1, dtype=np.int64)
    device1[d_owner1] = len(d_owner0) + np.arange(len(d_owner1))
    lo = np.maximum(persons.acq_ts, t.start)
    device_switch = lo + (rng.random(n) * np.maximum(t.obs_end - lo, 1)).astype(np.int64)

    # ---- cookies: web users, 1-4 over their observed web life
    web_from = np.maximum(persons.acq_ts, t.start)
    web_to = np.maximum(np.minimum(persons.act_end, t.obs_end), web_from + 1)
    k = np.where(persons.web_user, 1 + np.minimum(rng.poisson(0.8, n), 3), 0)
    cookie_owner = np.repeat(np.arange(n), k)
    cookie_first = np.cumsum(k) - k
    slot = np.arange(len(cookie_owner)) - cookie_first[cookie_owner]
    first_seen = web_from[cookie_owner] + (web_to - web_from)[cookie_owner] * slot // np.maximum(
        k[cookie_owner], 1
    )
    client = ids.scramble(4 * pid[cookie_owner] + slot, 10**10, 1_234_577)
    cookie_vals = ids.join("GA1.2.", ids.digits(client, 10), ".", ids.digits(first_seen, 10))
    cookie = _registry("cookie_id", cookie_owner, cookie_vals)

    # ---- social open ids per platform
    plat_p = np.array([0.85, 0.3, 0.15])
    has_plat = persons.social[:, None] & (rng.random((n, 3)) < plat_p)
    has_plat[persons.social & ~has_plat.any(axis=1), 0] = True
    open_vals, open_owner = [], []
    open_ids = np.full((n, 3), -1, dtype=np.int64)
    base = 0
    prefixes = (("o", 27), ("dy_", 24), ("wb", 16))
    for j, (prefix, length) in enumerate(prefixes):
        idx = np.flatnonzero(has_plat[:, j])
        open_vals.append(ids.base64ish_tokens(rng, len(idx), prefix, length))
        open_owner.append(idx)
        open_ids[idx, j] = base + np.arange(len(idx))
        base += len(idx)
    open_reg = _registry("open_id", np.concatenate(open_owner), pa.concat_arrays(open_vals))
    follow_ts = persons.acq_ts[:, None] + (rng.exponential(60.0, (n, 3)) * DAY_S).astype(np.int64)
    follow_ts = np.where(open_ids >= 0, follow_ts, NEVER)
    bind = (open_ids >= 0) & (phone0 >= 0)[:, None] & (rng.random((n, 3)) < 0.35)
    bind_ts = np.where(bind, follow_ts + (rng.exponential(90.0, (n, 3)) * DAY_S).astype(np.int64), NEVER)

    return Identity(
        email=email,
        phone=phone,
        accounts=acc,
        member=mem,
        card=card,
        device=device,
        cookie=cookie,
        open_id=open_reg,
        email0=email0,
        email1=email1,
        account_email=account_email,
        phone0=phone0,
        phone1=phone1,
        phone_switch=phone_switch,
        account=account,
        member_entry=member_entry,
        card_entry=card_entry,
        device0=device0,
        device1=device1,
        device_switch=device_switch,
        device_ios=ios,
        cookie_first=cookie_first,
        cookie_count=k,
        web_from=web_from,
        web_to=web_to,
        open_ids=open_ids,
        open_bind_ts=bind_ts,
        follow_ts=follow_ts,
        surname=surname,
        given=given,
    )
