"""Assemble the landing tables of one chunk, in contract shape, from the simulated activity.

This is where identifiers meet channels: each source renders the identifiers that channel
knows, with that channel's kind of noise and junk, through the chunk's registries (which
records the ground truth of who each written value belongs to).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from orchestration.contracts import SOURCES
from orchestration.sample_data import identifiers as ids
from orchestration.sample_data.activity import (
    CONTACT_CHANNELS,
    EVENT_CODES,
    REFERRERS,
    RESOLUTIONS,
    CampaignOutcome,
    Events,
    Orders,
    Sessions,
    gather,
)
from orchestration.sample_data.catalogue import (
    CITIES,
    GIVEN_NAMES,
    INTERESTS,
    SOCIAL_PLATFORMS,
    SURNAMES,
    money,
)
from orchestration.sample_data.personas import ACQUISITION_CHANNELS, CHANNELS, INCOME_BANDS, PERSONAS
from orchestration.sample_data.population import NEVER, Context, Identity, Persons, categorical
from orchestration.sample_data.seasonality import DAY_S
from orchestration.sample_data.writer import SourceBatch

HOUR = 3600

#: per-source phone spelling weights over identifiers.PHONE_FORMATS
#: (plain, "+86 138 0013 8000", "0086-138...", "138-0013-8000", "+86138...")
PHONE_STYLE: dict[str, tuple[float, ...]] = {
    "shop_orders": (0.45, 0.2, 0.05, 0.15, 0.15),
    "pos_transactions": (0.8, 0.0, 0.0, 0.2, 0.0),
    "sms_engagement": (0.3, 0.0, 0.0, 0.0, 0.7),
    "social_interactions": (0.6, 0.2, 0.0, 0.0, 0.2),
    "crm_profiles": (0.4, 0.2, 0.2, 0.1, 0.1),
    "service_tickets": (0.35, 0.2, 0.1, 0.25, 0.1),
    "campaign_touches": (0.0, 0.0, 0.0, 0.0, 1.0),
}
#: per-source e-mail noise: (share with case changes, share with surrounding whitespace)
EMAIL_NOISE: dict[str, tuple[float, float]] = {
    "shop_orders": (0.12, 0.03),
    "web_events": (0.15, 0.04),
    "email_engagement": (0.04, 0.01),
    "crm_profiles": (0.1, 0.05),
    "service_tickets": (0.2, 0.06),
    "campaign_touches": (0.03, 0.0),
}


def ts_array(values: np.ndarray) -> pa.Array:
    """UTC epoch seconds as TIMESTAMP; the NEVER sentinel becomes null."""
    v = np.asarray(values, dtype=np.int64)
    mask = v >= NEVER
    return pa.array(np.where(mask, 0, v), type=pa.timestamp("s"), mask=mask if mask.any() else None)


def int_array(values: np.ndarray, null_below: int = 0) -> pa.Array:
    """INTEGER column; values below ``null_below`` become null."""
    v = np.asarray(values, dtype=np.int64)
    mask = v < null_below
    return pa.array(np.where(mask, 0, v), type=pa.int64(), mask=mask if mask.any() else None)


def str_pick(choices: tuple[str, ...] | np.ndarray, idx: np.ndarray) -> pa.Array:
    """``choices[idx]`` as strings; negative index -> null."""
    return ids.take(pa.array(np.asarray(choices, dtype=object), pa.string()), idx)


def empty_to_null(values: np.ndarray) -> pa.Array:
    arr = pa.array(values, pa.string())
    return pc.if_else(pc.equal(arr, ""), pa.scalar(None, pa.string()), arr)


def make_table(source: str, cols: dict[str, pa.Array]) -> pa.Table:
    """Contract-ordered table; fails loudly when a builder and the contract disagree."""
    names = SOURCES[source].column_names
    if set(cols) != set(names):
        raise ValueError(f"{source}: columns {sorted(set(cols) ^ set(names))} do not match the contract")
    return pa.table({k: cols[k] for k in names})


class ChunkSources:
    """Builds every per-chunk landing source; one instance per chunk."""

    def __init__(
        self, ctx: Context, chunk: int, persons: Persons, ident: Identity, rng: np.random.Generator
    ) -> None:
        self.ctx = ctx
        self.chunk = chunk
        self.persons = persons
        self.ident = ident
        self.rng = rng
        self.campaign_ids = pa.array(ctx.campaigns.campaign_id)

    # -- helpers ---------------------------------------------------------------------------

    def prefix(self, code: str) -> str:
        return f"{code}{self.chunk:04d}"

    def id_maker(self, code: str, width: int, start: int) -> Callable[[int], list[str]]:
        """Fresh ids (for malformed lines) continuing after the last valid number."""
        prefix = self.prefix(code)

        def fresh(k: int) -> list[str]:
            return ids.prefixed(prefix, start + np.arange(k), width).to_pylist()

        return fresh

    def campaign_col(self, idx: np.ndarray) -> pa.Array:
        return ids.take(self.campaign_ids, idx)

    def product_col(self, idx: np.ndarray) -> pa.Array:
        return str_pick(self.ctx.catalogue.product_id, idx)

    def pid(self, local: np.ndarray) -> np.ndarray:
        return self.persons.pid[local]

    def tablets(self, tablet: np.ndarray, person: np.ndarray, rendered: pa.Array) -> pa.Array:
        """Swap in the shared tablet's device id where a row happened on a store tablet."""
        mask = tablet >= 0
        if not mask.any():
            return rendered
        values = pa.array(self.ctx.stores.tablet_device).take(pa.array(np.maximum(tablet, 0)))
        self.ident.device.add_pairs(values.filter(pa.array(mask)), person[mask], junk=False, shared=True)
        return pc.if_else(pa.array(mask), values, rendered)

    # -- orders ----------------------------------------------------------------------------

    def order_ids(self, orders: Orders) -> pa.Array:
        """Natural order ids for every order (shop ``O…``, POS sale ``T…``)."""
        store = orders.channel == 3
        shop = ids.prefixed(self.prefix("O"), orders.seq, 8)
        pos = ids.prefixed(self.prefix("T"), orders.seq, 8)
        return pc.if_else(pa.array(store), pos, shop)

    def shop_orders(self, orders: Orders) -> SourceBatch:
        t = self.ctx.time
        rng = self.rng
        ident = self.ident
        oi = np.flatnonzero(t.observed(orders.ts) & (orders.channel != 3))
        p = orders.person[oi]
        ts = orders.ts[oi]
        ch = orders.channel[oi]
        k = len(oi)
        with_acc = orders.with_account[oi]
        account = np.where(with_acc, ident.account[p], -1)
        guest_email = np.where(
            (ident.email1[p] >= 0) & (rng.random(k) < 0.2), ident.email1[p], ident.email0[p]
        )
        email_e = np.where(
            ch == 2,
            np.where(rng.random(k) < 0.05, ident.email0[p], -1),
            np.where(with_acc, np.where(rng.random(k) < 0.9, ident.account_email[p], -1), guest_email),
        )
        phone_e = np.where(rng.random(k) < np.where(ch == 2, 0.85, 0.7), ident.phone_at(p, ts), -1)
        device_e = np.where(ch == 1, ident.device_at(p, ts), -1)
        device_e = np.where(orders.tablet[oi] >= 0, -1, device_e)
        pid = self.pid(p)
        email_v = ident.email.render(
            email_e, rng, p, email_noise=EMAIL_NOISE["shop_orders"], junk=("test@test.com",), junk_rate=0.005
        )
        phone_v = ident.phone.render(
            phone_e, rng, p, phone_weights=PHONE_STYLE["shop_orders"], junk=ids.JUNK_PHONES, junk_rate=0.004
        )
        device_v = ident.device.render(device_e, rng, p, junk=ids.JUNK_DEVICES, junk_rate=0.005)
        device_v = self.tablets(orders.tablet[oi], p, device_v)
        account_v = ident.accounts.render(account, rng, p)

        # lines of these orders
        counts = orders.line_count[oi]
        line_pos = np.repeat(np.arange(k), counts)
        lines = orders.line_start[oi][line_pos] + (
            np.arange(len(line_pos)) - np.repeat(np.cumsum(counts) - counts, counts)
        )
        take = pa.array(line_pos)
        status = np.array(["completed", "returned", "cancelled"])[orders.status[oi]]
        currency = np.where(orders.usd[oi], "USD", "CNY")
        cols = {
            "order_id": ids.prefixed(self.prefix("O"), orders.seq[oi], 8).take(take),
            "line_number": int_array(orders.line_no[lines]),
            "ordered_at": ts_array(ts[line_pos]),
            "sales_channel": pa.array(np.array(CHANNELS)[ch][line_pos]),
            "account_id": account_v.take(take),
            "account_email": email_v.take(take),
            "phone": phone_v.take(take),
            "device_id": device_v.take(take),
            "product_id": self.product_col(orders.product[lines]),
            "quantity": int_array(orders.qty[lines]),
            "unit_price": money(orders.unit_cents[lines]),
            "discount_amount": money(orders.disc_cents[lines]),
            "coupon_code": empty_to_null(orders.coupon[oi][line_pos]),
            "currency": pa.array(currency[line_pos]),
            "order_status": pa.array(status[line_pos]),
            "campaign_id": self.campaign_col(orders.campaign[oi][line_pos]),
        }
        n_shop = int((orders.channel != 3).sum())
        return SourceBatch(
            "shop_orders",
            make_table("shop_orders", cols),
            pid[line_pos],
            self.id_maker("O", 8, n_shop),
            group=orders.seq[oi][line_pos],
            duplicable=True,
        )

    def pos_transactions(self, orders: Orders) -> SourceBatch:
        t = self.ctx.time
        rng = self.rng
        ident = self.ident
        store = orders.channel == 3
        sales = np.flatnonzero(store & t.observed(orders.ts))
        rets = np.flatnonzero(t.observed(orders.ret_ts))
        src = np.concatenate([sales, orders.ret_order[rets]])  # order index per transaction
        tts = np.concatenate([orders.ts[sales], orders.ret_ts[rets]])
        seq = np.concatenate([orders.seq[sales], orders.ret_seq[rets]])
        is_return = np.concatenate([np.zeros(len(sales), bool), np.ones(len(rets), bool)])
        o = np.argsort(seq, kind="stable")
        src, tts, seq, is_return = src[o], tts[o], seq[o], is_return[o]
        k = len(src)
        p = orders.person[src]
        card = ident.card_entry[p]
        show_card = (card >= 0) & (rng.random(k) < 0.85)
        phone_e = np.where(rng.random(k) < np.where(show_card, 0.2, 0.5), ident.phone_at(p, tts), -1)
        card_v = ident.card.render(np.where(show_card, card, -1), rng, p)
        phone_v = ident.phone.render(
            phone_e,
            rng,
            p,
            phone_weights=PHONE_STYLE["pos_transactions"],
            junk=ids.JUNK_PHONES,
            junk_rate=0.03,
        )
        counts = orders.line_count[src]
        line_pos = np.repeat(np.arange(k), counts)
        lines = orders.line_start[src][line_pos] + (
            np.arange(len(line_pos)) - np.repeat(np.cumsum(counts) - counts, counts)
        )
        take = pa.array(line_pos)
        stores = self.ctx.stores
        home = self.persons.home_store[p]
        store_idx = np.where(rng.random(k) < 0.8, home, rng.integers(0, len(stores.store_id), k))
        cols = {
            "transaction_id": ids.prefixed(self.prefix("T"), seq, 8).take(take),
            "line_number": int_array(orders.line_no[lines]),
            "transacted_at": ts_array(tts[line_pos]),
            "store_id": pa.array(stores.store_id[store_idx][line_pos]),
            "loyalty_card_number": card_v.take(take),
            "phone": phone_v.take(take),
            "product_id": self.product_col(orders.product[lines]),
            "quantity": int_array(orders.qty[lines]),
            "unit_price": money(orders.unit_cents[lines]),
            "discount_amount": money(orders.disc_cents[lines]),
            "coupon_code": empty_to_null(orders.coupon[src][line_pos]),
            "currency": pa.array(np.full(len(line_pos), "CNY")),
            "transaction_type": pa.array(np.where(is_return, "return", "sale")[line_pos]),
        }
        n_pos = int(store.sum()) + len(orders.ret_order)
        return SourceBatch(
            "pos_transactions",
            make_table("pos_transactions", cols),
            self.pid(p)[line_pos],
            self.id_maker("T", 8, n_pos),
            group=seq[line_pos],
            duplicable=True,
        )

    # -- web / app -------------------------------------------------------------------------

    def events(self, sess: Sessions, ev: Events, app: bool) -> SourceBatch:
        rng = self.rng
        ident = self.ident
        s_person = sess.person
        n_sess = len(s_person)
        needs = np.bincount(ev.session[ev.with_account], minlength=n_sess) > 0
        e_person = s_person[ev.session]
        take = pa.array(ev.session)
        source = "app_events" if app else "web_events"
        names = ("app_open" if app else "page_view", "login", "product_view", "add_to_cart", "checkout")
        assert len(names) == len(EVENT_CODES)
        common = {
            "event_id": ids.prefixed(self.prefix("AE" if app else "WE"), np.arange(len(ev.ts)), 9),
            "occurred_at": ts_array(ev.ts),
            "session_id": ids.prefixed(self.prefix("AS" if app else "WS"), ev.session_seq, 8),
            "event_type": str_pick(names, ev.kind),
            "product_id": self.product_col(ev.product),
            "campaign_id": self.campaign_col(sess.campaign[ev.session]),
        }
        has_event = np.bincount(ev.session, minlength=n_sess) > 0
        acc_rows = pa.array(ev.with_account)
        if app:
            device_v = ident.device.render(np.where(has_event, sess.entry, -1), rng, s_person)
            device_v = self.tablets(np.where(has_event, sess.tablet, -1), s_person, device_v)
            acc_v = ident.accounts.render(np.where(needs, ident.account[s_person], -1), rng, s_person)
            platform = np.where(
                sess.tablet >= 0, 0, np.where(gather(ident.device_ios, sess.entry, False), 0, 1)
            )
            cols = common | {
                "device_id": device_v.take(take),
                "account_id": pc.if_else(acc_rows, acc_v.take(take), pa.scalar(None, pa.string())),
                "platform": str_pick(("ios", "android"), platform[ev.session]),
            }
        else:
            cookie_v = ident.cookie.render(np.where(has_event, sess.entry, -1), rng, s_person)
            mail_v = ident.email.render(
                np.where(needs, ident.account_email[s_person], -1),
                rng,
                s_person,
                email_noise=EMAIL_NOISE["web_events"],
            )
            cols = common | {
                "cookie_id": cookie_v.take(take),
                "account_email": pc.if_else(acc_rows, mail_v.take(take), pa.scalar(None, pa.string())),
                "referrer_channel": str_pick(REFERRERS, sess.referrer[ev.session]),
            }
        return SourceBatch(
            source,
            make_table(source, cols),
            self.pid(e_person),
            self.id_maker("AE" if app else "WE", 9, len(ev.ts)),
            duplicable=True,
        )

    # -- messaging -------------------------------------------------------------------------

    def engagement(self, source: str, rows: dict[str, np.ndarray]) -> SourceBatch:
        t = self.ctx.time
        keep = np.flatnonzero(t.observed(rows["ts"]))
        keep = keep[np.argsort(rows["ts"][keep], kind="stable")]
        person = rows["person"][keep]
        entry = rows["entry"][keep]
        code = {"email_engagement": "EM", "sms_engagement": "SM", "push_engagement": "PN"}[source]
        ident_col = {"email_engagement": "email", "sms_engagement": "phone", "push_engagement": "device_id"}[
            source
        ]
        if source == "email_engagement":
            values = self.ident.email.render(
                entry, self.rng, person, email_noise=EMAIL_NOISE[source], consistent=True
            )
        elif source == "sms_engagement":
            values = self.ident.phone.render(
                entry, self.rng, person, phone_weights=PHONE_STYLE[source], consistent=True
            )
        else:
            values = self.ident.device.render(entry, self.rng, person)
        cols = {
            "event_id": ids.prefixed(self.prefix(code), np.arange(len(keep)), 9),
            "occurred_at": ts_array(rows["ts"][keep]),
            ident_col: values,
            "campaign_id": self.campaign_col(rows["campaign"][keep]),
            "event_type": pa.array(rows["kind"][keep].astype(str), pa.string()),
        }
        return SourceBatch(
            source,
            make_table(source, cols),
            self.pid(person),
            self.id_maker(code, 9, len(keep)),
            duplicable=True,
        )

    def social(self, rows: dict[str, np.ndarray]) -> SourceBatch:
        rng = self.rng
        ident = self.ident
        person, plat, ts = rows["person"], rows["platform"], rows["ts"]
        k = len(person)
        open_v = ident.open_id.render(ident.open_ids[person, plat], rng, person)
        bound = (ident.open_bind_ts[person, plat] <= ts) & (rng.random(k) < 0.8)
        phone_v = ident.phone.render(
            np.where(bound, ident.phone_at(person, ts), -1),
            rng,
            person,
            phone_weights=PHONE_STYLE["social_interactions"],
        )
        cols = {
            "interaction_id": ids.prefixed(self.prefix("SI"), np.arange(k), 9),
            "occurred_at": ts_array(ts),
            "platform": str_pick(SOCIAL_PLATFORMS, plat),
            "open_id": open_v,
            "phone": phone_v,
            "interaction_type": pa.array(rows["kind"].astype(str), pa.string()),
            "campaign_id": self.campaign_col(rows["campaign"]),
        }
        return SourceBatch(
            "social_interactions",
            make_table("social_interactions", cols),
            self.pid(person),
            self.id_maker("SI", 9, k),
            duplicable=True,
        )

    def touches(self, outcome: CampaignOutcome) -> SourceBatch:
        t = self.ctx.time
        tch = outcome.touches
        keep = np.flatnonzero(t.observed(tch["ts"]))
        keep = keep[np.argsort(tch["ts"][keep], kind="stable")]
        person = tch["person"][keep]
        ident = self.ident
        rng = self.rng
        cols = {
            "touch_id": ids.prefixed(self.prefix("TC"), np.arange(len(keep)), 9),
            "campaign_id": self.campaign_col(tch["campaign"][keep]),
            "touched_at": ts_array(tch["ts"][keep]),
            "channel": pa.array(self.ctx.campaigns.channel[tch["campaign"][keep]]),
            "email": ident.email.render(
                tch["email"][keep], rng, person, email_noise=EMAIL_NOISE["campaign_touches"], consistent=True
            ),
            "phone": ident.phone.render(
                tch["phone"][keep],
                rng,
                person,
                phone_weights=PHONE_STYLE["campaign_touches"],
                consistent=True,
            ),
            "device_id": ident.device.render(tch["device"][keep], rng, person),
            "member_id": ident.member.render(tch["member"][keep], rng, person),
            "account_id": ident.accounts.render(tch["account"][keep], rng, person),
            "is_control": pa.array(tch["control"][keep]),
        }
        return SourceBatch(
            "campaign_touches",
            make_table("campaign_touches", cols),
            self.pid(person),
            self.id_maker("TC", 9, len(keep)),
        )

    # -- CRM and service -------------------------------------------------------------------

    def tickets(self, tk: dict[str, np.ndarray]) -> SourceBatch:
        rng = self.rng
        ident = self.ident
        person = tk["person"]
        k = len(person)
        ch = tk["channel"]
        mail_p = np.select([ch == 2, ch == 1], [1.0, 0.4], 0.1)
        phone_p = np.select([ch == 0, ch == 1], [0.95, 0.3], 0.15)
        mail_choice = np.where(
            (ident.email1[person] >= 0) & (rng.random(k) < 0.3), ident.email1[person], ident.email0[person]
        )
        email_v = ident.email.render(
            np.where(rng.random(k) < mail_p, mail_choice, -1),
            rng,
            person,
            email_noise=EMAIL_NOISE["service_tickets"],
            junk=("unknown",),
            junk_rate=0.02,
        )
        phone_v = ident.phone.render(
            np.where(rng.random(k) < phone_p, ident.phone_at(person, tk["opened"]), -1),
            rng,
            person,
            phone_weights=PHONE_STYLE["service_tickets"],
            junk=ids.JUNK_PHONES,
            junk_rate=0.01,
        )
        cols = {
            "ticket_id": ids.prefixed(self.prefix("TK"), np.arange(k), 7),
            "opened_at": ts_array(tk["opened"]),
            "closed_at": ts_array(tk["closed"]),
            "contact_channel": str_pick(CONTACT_CHANNELS, ch),
            "email": email_v,
            "phone": phone_v,
            "topic": pa.array(tk["topic"].astype(str), pa.string()),
            "resolution": str_pick(RESOLUTIONS, tk["resolution"]),
            "csat": int_array(tk["csat"]),
            "nps": int_array(tk["nps"]),
        }
        return SourceBatch(
            "service_tickets",
            make_table("service_tickets", cols),
            self.pid(person),
            self.id_maker("TK", 7, k),
        )

    def crm(self, unsub: np.ndarray) -> SourceBatch:
        """Loyalty members: one profile per member, re-delivered when something changed.

        About 10 % of members get a second delivery with a later ``updated_at`` (new e-mail,
        new phone, a move, new income band or interests); members who unsubscribed from a
        channel are re-delivered with that consent withdrawn at the unsubscribe time.
        """
        ctx = self.ctx
        t = ctx.time
        rng = self.rng
        ps = self.persons
        ident = self.ident
        mem = np.flatnonzero(ps.member)
        m = len(mem)
        signup = ps.signup_ts[mem]
        first = np.where(
            signup >= t.start, signup + rng.integers(60, 3600, m), t.start + rng.integers(0, 30 * DAY_S, m)
        )
        first = np.minimum(first, t.obs_end)
        unsub_any = np.min(unsub[mem], axis=1)
        changed = rng.random(m) < 0.10
        by_unsub = unsub_any < t.obs_end - DAY_S
        redeliver = (changed | by_unsub) & (first < t.obs_end - 2 * DAY_S)
        later = np.where(
            by_unsub,
            np.maximum(unsub_any, first) + rng.integers(HOUR, 3 * DAY_S, m),
            first + DAY_S + (rng.random(m) * np.maximum(t.obs_end - first - DAY_S, 1)).astype(np.int64),
        )
        later = np.minimum(later, t.obs_end)
        r = np.flatnonzero(redeliver & (later > first))
        row_m = np.concatenate([np.arange(m), r])  # index into mem
        second = np.concatenate([np.zeros(m, bool), np.ones(len(r), bool)])
        updated = np.concatenate([first, later[r]])
        person = mem[row_m]
        k = len(person)
        persona = ps.persona[person]

        # attributes: drawn per member, partly redrawn on the second delivery
        email_e = ident.email0[person]
        switch_mail = second & (ident.email1[person] >= 0) & (rng.random(k) < 0.5)
        email_e = np.where(switch_mail, ident.email1[person], email_e)
        email_e = np.where(rng.random(k) < 0.05, -1, email_e)
        phone_e = ident.phone_at(person, updated)
        city_base = ps.city[mem]
        moved = rng.integers(0, len(CITIES), m)
        city = np.where(second & (rng.random(k) < 0.3), moved[row_m], city_base[row_m])
        w_income = np.array([p.income_weights for p in PERSONAS])
        income_m = categorical(rng, w_income[ps.persona[mem]])
        income = np.where(
            second & (rng.random(k) < 0.2), categorical(rng, w_income[persona]), income_m[row_m]
        )
        interests_m = rng.random((m, len(INTERESTS))) < 0.2
        interests_m[np.arange(m), np.minimum(ps.pref_cat[mem], len(INTERESTS) - 1)] = True
        interests = interests_m[row_m]
        redraw = second & (rng.random(k) < 0.3)
        interests[redraw] = rng.random((int(redraw.sum()), len(INTERESTS))) < 0.25
        bits = interests.astype(np.int64) @ (1 << np.arange(len(INTERESTS)))
        table = np.array(
            [
                ";".join(INTERESTS[j] for j in range(len(INTERESTS)) if b >> j & 1)
                for b in range(1 << len(INTERESTS))
            ]
        )
        interests_v = empty_to_null(table[bits])

        female_share = np.array([p.female_share for p in PERSONAS])[ps.persona[mem]]
        g = rng.random(m)
        gender_m = np.select([g < 0.05, g < 0.07, g < 0.07 + 0.93 * female_share], [3, 2, 0], 1)
        age_mean = np.array([p.age_mean for p in PERSONAS])[ps.persona[mem]]
        age = np.clip(rng.normal(age_mean, 9.0), 18, 80)
        birth = (t.start / DAY_S - age * 365.25).astype(np.int64)
        birth_known = rng.random(m) > 0.12
        sur = np.array([s[0] for s in SURNAMES])[ident.surname[mem]]
        giv = np.array([x[0] for x in GIVEN_NAMES])[ident.given[mem]]
        has_name = rng.random(m) > 0.03
        preferred = rng.choice(5, size=m, p=[0.35, 0.2, 0.2, 0.15, 0.1])

        # consent as the CRM knows it at updated_at: opted in before, withdrawn by unsubscribe
        consent_cols: dict[str, pa.Array] = {}
        for j, name in enumerate(("email", "sms", "push")):
            opt = ps.consent_ts[person, j]
            gone = unsub[person, j]
            yes = (opt <= updated) & (gone > updated)
            withdrawn = gone <= updated
            known = yes | withdrawn | (rng.random(k) < 0.5)
            consent_cols[f"consent_{name}"] = pa.array(yes, mask=~known)
            at = np.where(yes, opt, np.where(withdrawn, gone, NEVER))
            consent_cols[f"consent_{name}_at"] = ts_array(at)

        card_v = ident.card.render(ident.card_entry[person], rng, person)
        account_v = ident.accounts.render(ident.account[person], rng, person)
        email_v = ident.email.render(
            email_e,
            rng,
            person,
            email_noise=EMAIL_NOISE["crm_profiles"],
            consistent=True,
            junk=("test@test.com",),
            junk_rate=0.004,
        )
        phone_v = ident.phone.render(
            phone_e,
            rng,
            person,
            phone_weights=PHONE_STYLE["crm_profiles"],
            consistent=True,
            junk=("00000000000",),
            junk_rate=0.008,
        )
        member_v = ident.member.render(ident.member_entry[person], rng, person)
        postcode = ids.join(
            pa.array(np.array([c[2] for c in CITIES])[city]), ids.digits(rng.integers(0, 1000, k), 3)
        )
        cols = {
            "member_id": member_v,
            "updated_at": ts_array(updated),
            "loyalty_card_number": card_v,
            "account_id": account_v,
            "first_name": pa.array(giv[row_m], mask=~has_name[row_m]),
            "last_name": pa.array(sur[row_m], mask=~has_name[row_m]),
            "email": email_v,
            "phone": phone_v,
            "birth_date": pa.array(birth[row_m].astype(np.int32), pa.date32(), mask=~birth_known[row_m]),
            "gender": str_pick(("female", "male", "other", "unknown"), gender_m[row_m]),
            "city": pa.array(np.array([c[0] for c in CITIES])[city]),
            "region": pa.array(np.array([c[1] for c in CITIES])[city]),
            "postcode": postcode,
            "income_band": str_pick(INCOME_BANDS, income),
            "interests": interests_v,
            "preferred_channel": str_pick(("email", "sms", "push", "social", "none"), preferred[row_m]),
            **consent_cols,
            "signup_at": ts_array(ps.signup_ts[person]),
            "acquisition_channel": str_pick(ACQUISITION_CHANNELS, ps.acq_channel[person]),
        }
        tbl = make_table("crm_profiles", cols)
        o = np.argsort(updated, kind="stable")
        tbl = tbl.take(pa.array(o))
        n_mem_total = 900_000_000 + self.chunk * 1_000_000

        def fresh(count: int) -> list[str]:
            return ids.prefixed(
                "M", ids.scramble(n_mem_total + np.arange(count), 10**9, 2_718_283), 9
            ).to_pylist()

        return SourceBatch("crm_profiles", tbl, self.pid(person)[o], fresh)
