"""Multi-channel customer simulator with ground truth.

Writes the landing files every channel would deliver (``out_dir/landing/<source>/``, one CSV
per chunk of persons, exactly the columns of :mod:`orchestration.contracts`) and, next to
them, the truth the pipeline never reads (``out_dir/ground_truth/*.parquet``): who every
record belongs to, every person's true BG/NBD and Gamma-Gamma parameters, the holdout
purchases, the true campaign uplifts, and what was deliberately broken in the files.

Why chunks: persons are independent given the global catalogue and campaign calendar, so
persons are simulated ``chunk_size`` at a time, each chunk from its own random streams
(children of ``SeedSequence(seed)`` addressed by spawn key), and written before the next
one starts. Memory is bounded by the chunk, output is byte-identical for a given config
whether chunks run sequentially or in worker processes, and 1M persons is just more chunks.

Landing layout: ``<source>_part<NNNN>.csv`` holds chunk NNNN's rows (sorted by event time)
with the previous chunk's late rows appended at its end; one trailing file
``<source>_part<n_chunks>.csv`` carries the last chunk's late rows (only when
``late_rate > 0``). ``products`` and ``campaigns`` are single files ``_part0000``.

Ground truth (``out_dir/ground_truth``):

* ``persons``: persona, household, acquisition (first purchase for buyers, first contact for
  prospects), true λ per operational week and dropout p, ``died_at`` (null if alive at
  holdout_end), Gamma-Gamma parameters and true mean order value, uplift, discount
  sensitivity, happiness, channel shares, and observed counts: ``orders_observed`` (orders of
  any status placed in the observation window; POS sales count, POS returns do not),
  ``completed_orders_observed``, ``revenue_observed`` / ``revenue_holdout`` (net of
  discounts, completed orders only, in CNY; the few USD orders converted at
  ``activity.USD_CNY``), ``orders_holdout``.
* ``identifiers``: every normalised identifier value written in at least one valid landing
  row, with its person(s); ``is_shared`` = carried by more than one person (household
  e-mails, store tablets), ``is_junk`` = placeholder values that must never link anyone.
* ``records``: ``source``, ``record_key`` (natural key joined by ``|``), ``person_id`` and
  the ``file_name`` the record landed in, for every distinct valid landing record of the
  person-level sources (``products`` and ``campaigns`` rows belong to nobody).
* ``orders`` (observation window) and ``holdout_orders`` (after observation_end): order id,
  time, status, revenue (CNY), and for ``orders`` the inducing / credited campaign.
* ``campaigns``: ``true_uplift`` = sample average treatment effect on the targeted
  population on conversion (any order in any channel within ``response_window_days`` after
  the touch), plus targeted / treated / control counts and their observed conversion rates.
* ``files``: per landing file: data rows, malformed, duplicate and late rows.
* ``malformed_rows``: file, line number (header = line 1), kind and key of each malformed line.
* ``personas``: the persona parameters.
* ``erasure_requests`` (only with ``erasure_requests > 0``): request id, the person, the
  identifier named (normalised, and as written in ``landing/erasure_requests/``). The
  pipeline forgets these persons, so evaluations against the other tables leave them out.
"""

from __future__ import annotations

import functools
import logging
import math
import multiprocessing
import os
import time
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from orchestration.contracts import SOURCES
from orchestration.sample_data import activity
from orchestration.sample_data.catalogue import make_campaigns, make_catalogue, make_stores
from orchestration.sample_data.erasure_requests import FILE_NAME as ERASURE_REQUESTS_FILE
from orchestration.sample_data.erasure_requests import write_erasure_requests
from orchestration.sample_data.identifiers import take
from orchestration.sample_data.personas import ACQUISITION_CHANNELS, CHANNELS, PERSONA_NAMES, persona_table
from orchestration.sample_data.population import (
    NEVER,
    Context,
    Identity,
    Persons,
    TimeFrame,
    draw_persons,
    draw_purchases,
    make_clocks,
    mint_identity,
)
from orchestration.sample_data.sources import ChunkSources, ts_array
from orchestration.sample_data.writer import (
    DICT_STRING,
    MALFORMED_SCHEMA,
    RECORD_SCHEMA,
    Delivery,
    DeliveryRates,
    FileStats,
    SourceBatch,
    deliver,
    file_name,
    header_line,
)

logger = logging.getLogger(__name__)

SINGLE_FILE_SOURCES: tuple[str, ...] = ("products", "campaigns")
CHUNK_SOURCES: tuple[str, ...] = tuple(s for s in SOURCES if s not in SINGLE_FILE_SOURCES)
PARALLEL_FROM = 100_000
GROUND_TRUTH_FILES: tuple[str, ...] = (
    "persons",
    "identifiers",
    "records",
    "holdout_orders",
    "orders",
    "files",
    "campaigns",
    "personas",
    "malformed_rows",
    "erasure_requests",
)


@dataclass(frozen=True)
class SimulationConfig:
    """What to simulate. Same config, same bytes."""

    n_customers: int = 5_000
    seed: int = 42
    start_date: date = date(2024, 7, 1)  # first day of history
    observation_end: date = date(2026, 6, 30)  # last day written to landing files
    holdout_end: date = date(2026, 10, 31)  # purchases after observation_end up to here: ground truth only
    malformed_rate: float = 0.001  # share of landing rows deliberately malformed
    duplicate_rate: float = 0.005  # share of event/order rows delivered twice (exact duplicate)
    late_rate: float = 0.01  # share of rows delivered in the NEXT chunk's file instead of their own
    chunk_size: int = 50_000  # persons per chunk; memory is bounded by this
    erasure_requests: int = 0  # persons asking to be forgotten (landing/erasure_requests/), drawn at the end


@dataclass
class SimulationSummary:
    """What was written; ``seconds`` is the only non-deterministic field and is never written."""

    files: dict[str, list[Path]] = field(default_factory=dict)
    rows: dict[str, int] = field(default_factory=dict)
    malformed: dict[str, int] = field(default_factory=dict)
    duplicates: dict[str, int] = field(default_factory=dict)
    persons: int = 0
    seconds: float = 0.0


# ----------------------------------------------------------------------------- schemas

_TS = pa.timestamp("s")
PERSONS_SCHEMA = pa.schema(
    [
        ("person_id", pa.int64()),
        ("persona", pa.string()),
        ("household_id", pa.int64()),
        ("is_prospect", pa.bool_()),
        ("acquisition_channel", pa.string()),
        ("acquired_at", _TS),
        ("lambda_per_week", pa.float64()),
        ("p_dropout", pa.float64()),
        ("died_at", _TS),
        ("is_alive_at_observation_end", pa.bool_()),
        ("gg_p", pa.float64()),
        ("gg_q", pa.float64()),
        ("gg_gamma", pa.float64()),
        ("gg_nu", pa.float64()),
        ("mean_order_value", pa.float64()),
        ("campaign_uplift", pa.float64()),
        ("discount_sensitivity", pa.float64()),
        ("happiness", pa.float64()),
        ("is_member", pa.bool_()),
        ("member_since", _TS),
        ("is_web_user", pa.bool_()),
        ("is_app_user", pa.bool_()),
        ("share_web", pa.float64()),
        ("share_app", pa.float64()),
        ("share_marketplace", pa.float64()),
        ("share_store", pa.float64()),
        ("orders_observed", pa.int64()),
        ("completed_orders_observed", pa.int64()),
        ("revenue_observed", pa.float64()),
        ("first_order_observed_at", _TS),
        ("last_order_observed_at", _TS),
        ("orders_holdout", pa.int64()),
        ("revenue_holdout", pa.float64()),
    ]
)
IDENTIFIERS_SCHEMA = pa.schema(
    [
        ("identifier_type", DICT_STRING),
        ("identifier_value", pa.string()),
        ("person_id", pa.int64()),
        ("is_shared", pa.bool_()),
        ("is_junk", pa.bool_()),
    ]
)
ORDERS_SCHEMA = pa.schema(
    [
        ("person_id", pa.int64()),
        ("order_id", pa.string()),
        ("source", pa.string()),
        ("sales_channel", pa.string()),
        ("ordered_at", _TS),
        ("order_status", pa.string()),
        ("currency", pa.string()),
        ("revenue", pa.float64()),
        ("n_lines", pa.int64()),
        ("is_first_order", pa.bool_()),
        ("induced_by_campaign_id", pa.string()),
        ("credited_campaign_id", pa.string()),
    ]
)
HOLDOUT_COLUMNS = ("person_id", "order_id", "ordered_at", "revenue", "order_status", "sales_channel")
HOLDOUT_SCHEMA = pa.schema([ORDERS_SCHEMA.field(c) for c in HOLDOUT_COLUMNS])
FILES_SCHEMA = pa.schema(
    [
        ("source", pa.string()),
        ("file_name", pa.string()),
        ("data_rows", pa.int64()),
        ("malformed_rows", pa.int64()),
        ("duplicate_rows", pa.int64()),
        ("late_rows", pa.int64()),
    ]
)


# ----------------------------------------------------------------------------- helpers


def _rng(seed: int, *key: int) -> np.random.Generator:
    """The generator of ``SeedSequence(seed).spawn``'s child at ``key`` (stable, order-free)."""
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=key))


def _validate(config: SimulationConfig) -> None:
    if config.n_customers < 1 or config.chunk_size < 1:
        raise ValueError("n_customers and chunk_size must be positive")
    if not config.start_date < config.observation_end <= config.holdout_end:
        raise ValueError("need start_date < observation_end <= holdout_end")
    for name in ("malformed_rate", "duplicate_rate", "late_rate"):
        if not 0.0 <= getattr(config, name) < 0.5:
            raise ValueError(f"{name} must be in [0, 0.5)")


@functools.lru_cache(maxsize=2)
def build_context(config: SimulationConfig) -> Context:
    """Global, deterministic inputs (catalogue, stores, campaigns, clocks) from spawn key (0,).

    Cached per process because every chunk needs it; callers must treat it as read-only.
    """
    g = _rng(config.seed, 0)
    catalogue = make_catalogue(g)
    stores = make_stores(g)
    campaigns = make_campaigns(g, config.start_date, config.observation_end, config.n_customers)
    return Context(
        seed=config.seed,
        chunk_size=config.chunk_size,
        time=TimeFrame.of(config.start_date, config.observation_end, config.holdout_end),
        clocks=make_clocks(config.start_date, config.holdout_end),
        catalogue=catalogue,
        stores=stores,
        campaigns=campaigns,
    )


def _rates(config: SimulationConfig) -> DeliveryRates:
    return DeliveryRates(config.malformed_rate, config.duplicate_rate, config.late_rate)


# ----------------------------------------------------------------------------- one chunk


@dataclass
class ChunkResult:
    """Everything a chunk hands back to the coordinator (files are already on disk)."""

    chunk: int
    deliveries: dict[str, Delivery]
    persons: pa.Table
    identifiers: pa.Table
    orders: pa.Table
    holdout: pa.Table
    campaign_sums: dict[str, np.ndarray]


def run_chunk(config: SimulationConfig, chunk: int, landing: Path) -> ChunkResult:
    """Simulate one chunk of persons and write its landing files (without incoming late rows)."""
    started = time.perf_counter()
    ctx = build_context(config)
    seed = config.seed
    n = min(config.chunk_size, config.n_customers - chunk * config.chunk_size)
    persons = draw_persons(ctx, _rng(seed, 1, chunk, 0), chunk, n)
    purchases = draw_purchases(ctx, _rng(seed, 1, chunk, 1), persons)
    ident = mint_identity(ctx, _rng(seed, 1, chunk, 2), persons)
    outcome = activity.run_campaigns(ctx, _rng(seed, 1, chunk, 3), persons, ident, purchases)
    orders = activity.make_orders(ctx, _rng(seed, 1, chunk, 4), persons, ident, purchases, outcome)
    cs = ChunkSources(ctx, chunk, persons, ident, _rng(seed, 1, chunk, 5))
    rates = _rates(config)
    deliveries: dict[str, Delivery] = {}

    def ship(batch: SourceBatch) -> None:
        i = CHUNK_SOURCES.index(batch.source)
        deliveries[batch.source] = deliver(batch, landing, chunk, _rng(seed, 2, chunk, i), rates)

    ship(cs.shop_orders(orders))
    ship(cs.pos_transactions(orders))
    for app, key in ((False, 6), (True, 7)):
        r = _rng(seed, 1, chunk, key)
        sess = activity.make_sessions(ctx, r, persons, ident, orders, outcome, app=app)
        events, _ = activity.expand_events(ctx, r, persons, orders, sess)
        ship(cs.events(sess, events, app=app))
        del sess, events
    ship(cs.engagement("email_engagement", outcome.email))
    ship(cs.engagement("sms_engagement", outcome.sms))
    ship(cs.engagement("push_engagement", outcome.push))
    ship(cs.social(activity.make_social(ctx, _rng(seed, 1, chunk, 8), persons, ident, outcome)))
    ship(cs.crm(outcome.unsub))
    ship(cs.tickets(activity.make_tickets(ctx, _rng(seed, 1, chunk, 9), persons, orders)))
    ship(cs.touches(outcome))

    order_ids = cs.order_ids(orders)
    result = ChunkResult(
        chunk=chunk,
        deliveries=deliveries,
        persons=_persons_truth(ctx, persons, orders),
        identifiers=_identifier_truth(ident, persons.pid),
        orders=_orders_truth(ctx, orders, order_ids, persons.pid, holdout=False),
        holdout=_orders_truth(ctx, orders, order_ids, persons.pid, holdout=True),
        campaign_sums=activity.campaign_truth(ctx, orders, outcome),
    )
    logger.info(
        "chunk %d: %d persons, %d landing rows in %.1fs",
        chunk,
        n,
        sum(d.stats.data_rows for d in deliveries.values()),
        time.perf_counter() - started,
    )
    return result


def _persons_truth(ctx: Context, persons: Persons, orders: activity.Orders) -> pa.Table:
    t = ctx.time
    n = persons.n
    obs = t.observed(orders.ts)
    hold = orders.ts > t.obs_end
    done = orders.status == 0
    rev = orders.revenue_cents / 100.0

    def count(mask: np.ndarray) -> np.ndarray:
        return np.bincount(orders.person[mask], minlength=n).astype(np.int64)

    def total(mask: np.ndarray) -> np.ndarray:
        return np.round(np.bincount(orders.person[mask], weights=rev[mask], minlength=n), 2)

    first = np.full(n, NEVER, dtype=np.int64)
    np.minimum.at(first, orders.person[obs], orders.ts[obs])
    last = np.full(n, -1, dtype=np.int64)
    np.maximum.at(last, orders.person[obs], orders.ts[obs])
    last = np.where(last < 0, NEVER, last)
    prospect = persons.is_prospect
    died = np.where(persons.died_ts <= t.hold_end, persons.died_ts, NEVER)
    cols = {
        "person_id": persons.pid,
        "persona": np.array(PERSONA_NAMES)[persons.persona],
        "household_id": persons.household,
        "is_prospect": prospect,
        "acquisition_channel": np.array(ACQUISITION_CHANNELS)[persons.acq_channel],
        "acquired_at": ts_array(persons.acq_ts),
        "lambda_per_week": persons.lam,
        "p_dropout": pa.array(np.nan_to_num(persons.p), mask=prospect),
        "died_at": ts_array(died),
        "is_alive_at_observation_end": ~prospect & (persons.died_ts > t.obs_end),
        "gg_p": persons.p_gg,
        "gg_q": persons.q_gg,
        "gg_gamma": persons.gamma_gg,
        "gg_nu": persons.nu,
        "mean_order_value": pa.array(persons.mean_order_value, mask=prospect),
        "campaign_uplift": persons.uplift,
        "discount_sensitivity": persons.disc_sens,
        "happiness": persons.happiness,
        "is_member": persons.member,
        "member_since": ts_array(persons.signup_ts),
        "is_web_user": persons.web_user,
        "is_app_user": persons.app_user,
        **{f"share_{c}": persons.channel_p[:, i] for i, c in enumerate(CHANNELS)},
        "orders_observed": count(obs),
        "completed_orders_observed": count(obs & done),
        "revenue_observed": total(obs & done),
        "first_order_observed_at": ts_array(first),
        "last_order_observed_at": ts_array(last),
        "orders_holdout": count(hold),
        "revenue_holdout": total(hold & done),
    }
    return pa.table({k: cols[k] for k in PERSONS_SCHEMA.names}).cast(PERSONS_SCHEMA)


def _orders_truth(
    ctx: Context, orders: activity.Orders, order_ids: pa.Array, pid: np.ndarray, holdout: bool
) -> pa.Table:
    t = ctx.time
    mask = (orders.ts > t.obs_end) if holdout else t.observed(orders.ts)
    idx = np.flatnonzero(mask)
    camp_ids = pa.array(ctx.campaigns.campaign_id)
    store = orders.channel[idx] == 3
    table = pa.table(
        {
            "person_id": pid[orders.person[idx]],
            "order_id": order_ids.take(pa.array(idx)),
            "source": np.where(store, "pos_transactions", "shop_orders"),
            "sales_channel": np.array(CHANNELS)[orders.channel[idx]],
            "ordered_at": ts_array(orders.ts[idx]),
            "order_status": np.array(["completed", "returned", "cancelled"])[orders.status[idx]],
            "currency": np.where(orders.usd[idx], "USD", "CNY"),
            "revenue": orders.revenue_cents[idx] / 100.0,
            "n_lines": orders.line_count[idx],
            "is_first_order": orders.trial[idx],
            "induced_by_campaign_id": take(camp_ids, orders.induced_by[idx]),
            "credited_campaign_id": take(camp_ids, orders.campaign[idx]),
        }
    ).cast(ORDERS_SCHEMA)
    if holdout:
        return table.select(list(HOLDOUT_COLUMNS))
    return table


def _identifier_truth(ident: Identity, pid: np.ndarray) -> pa.Table:
    """Union of all registries' used values; shared = carried by >1 person (or a store tablet)."""
    table = pa.concat_tables([r.truth(pid) for r in ident.registries()])
    real = table.filter(pc.invert(table["is_junk"]))
    per_value = real.group_by(["identifier_type", "identifier_value"], use_threads=False).aggregate(
        [("person_id", "count_distinct")]
    )
    multi = per_value.filter(pc.greater(per_value["person_id_count_distinct"], 1))
    key = pc.binary_join_element_wise(table["identifier_type"], table["identifier_value"], "\x1f")
    multi_key = pc.binary_join_element_wise(multi["identifier_type"], multi["identifier_value"], "\x1f")
    shared = pc.or_(
        pc.and_(pc.is_in(key, value_set=multi_key), pc.invert(table["is_junk"])), table["shared_by_design"]
    )
    out = pa.table(
        {
            "identifier_type": table["identifier_type"],
            "identifier_value": table["identifier_value"],
            "person_id": table["person_id"],
            "is_shared": shared,
            "is_junk": table["is_junk"],
        }
    )
    out = out.sort_by(
        [("identifier_type", "ascending"), ("identifier_value", "ascending"), ("person_id", "ascending")]
    )
    return out.cast(IDENTIFIERS_SCHEMA)


# ----------------------------------------------------------------------------- coordinator


def _chunk_results(
    config: SimulationConfig, landing: Path, n_chunks: int, workers: int
) -> Iterator[ChunkResult]:
    """Chunk results in chunk order; with workers, at most ``workers + 1`` chunks in flight."""
    if workers <= 1 or n_chunks == 1:
        for chunk in range(n_chunks):
            yield run_chunk(config, chunk, landing)
        return
    ctx = multiprocessing.get_context("spawn")  # no fork: pyarrow's thread pools and fork do not mix
    with ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as pool:
        pending: deque[Future[ChunkResult]] = deque()
        nxt = 0
        while nxt < n_chunks and len(pending) < workers + 1:
            pending.append(pool.submit(run_chunk, config, nxt, landing))
            nxt += 1
        while pending:
            result = pending.popleft().result()
            if nxt < n_chunks:
                pending.append(pool.submit(run_chunk, config, nxt, landing))
                nxt += 1
            yield result


class _TruthWriters:
    """Streaming Parquet writers for the chunked ground-truth tables."""

    def __init__(self, gt: Path) -> None:
        self.writers = {
            "persons": pq.ParquetWriter(gt / "persons.parquet", PERSONS_SCHEMA),
            "identifiers": pq.ParquetWriter(gt / "identifiers.parquet", IDENTIFIERS_SCHEMA),
            "records": pq.ParquetWriter(gt / "records.parquet", RECORD_SCHEMA),
            "orders": pq.ParquetWriter(gt / "orders.parquet", ORDERS_SCHEMA),
            "holdout_orders": pq.ParquetWriter(gt / "holdout_orders.parquet", HOLDOUT_SCHEMA),
            "malformed_rows": pq.ParquetWriter(gt / "malformed_rows.parquet", MALFORMED_SCHEMA),
        }

    def write(self, name: str, table: pa.Table) -> None:
        if table.num_rows:
            self.writers[name].write_table(table.cast(self.writers[name].schema))

    def close(self) -> None:
        for w in self.writers.values():
            w.close()


def _clean(landing: Path, gt: Path) -> None:
    """Remove what a previous run wrote (only our own file patterns), so reruns converge."""
    for source in SOURCES:
        d = landing / source
        if d.is_dir():
            for f in d.glob(f"{source}_part*.csv"):
                f.unlink()
    (landing / "erasure_requests" / ERASURE_REQUESTS_FILE).unlink(missing_ok=True)
    for name in GROUND_TRUTH_FILES:
        (gt / f"{name}.parquet").unlink(missing_ok=True)
    gt.mkdir(parents=True, exist_ok=True)
    landing.mkdir(parents=True, exist_ok=True)


def simulate(config: SimulationConfig, out_dir: Path, *, workers: int | None = None) -> SimulationSummary:
    """Simulate ``config.n_customers`` persons and write landing files plus ground truth.

    ``workers`` processes simulate chunks in parallel (default: 2 from ``PARALLEL_FROM``
    persons on, never more than CPUs or chunks); the output does not depend on it.
    """
    _validate(config)
    started = time.perf_counter()
    out_dir = Path(out_dir)
    landing, gt = out_dir / "landing", out_dir / "ground_truth"
    _clean(landing, gt)
    ctx = build_context(config)
    rates = _rates(config)
    n_chunks = math.ceil(config.n_customers / config.chunk_size)
    if workers is None:  # a worker process costs ~2 s to start: only worth it for big runs
        workers = min(2, os.cpu_count() or 1, n_chunks) if config.n_customers >= PARALLEL_FROM else 1
    stats: dict[str, list[FileStats]] = {s: [] for s in SOURCES}
    truth = _TruthWriters(gt)

    for i, (source, table) in enumerate(
        (("products", ctx.catalogue.table()), ("campaigns", ctx.campaigns.table()))
    ):
        prefix = "P9" if source == "products" else "CMP9"  # outside the valid id ranges

        def fresh(k: int, prefix: str = prefix) -> list[str]:
            return [f"{prefix}{j + 1:04d}" for j in range(k)]

        batch = SourceBatch(source, table, np.full(table.num_rows, -1), fresh, python_quoting=True)
        d = deliver(batch, landing, 0, _rng(config.seed, 3, i), rates, late_allowed=False)
        stats[source].append(d.stats)
        truth.write("malformed_rows", d.malformed)

    sums: dict[str, np.ndarray] = {}
    late: dict[str, tuple[bytes, int]] = {}
    for result in _chunk_results(config, landing, n_chunks, workers):
        for source in CHUNK_SOURCES:
            d = result.deliveries[source]
            if source in late and late[source][1]:
                body, count = late[source]
                with (landing / source / d.stats.file_name).open("ab") as f:
                    f.write(body)
                d.stats.late_rows = count
                d.stats.data_rows += count
            stats[source].append(d.stats)
            late[source] = (d.late_bytes, d.late_count)
            truth.write("records", d.records)
            truth.write("malformed_rows", d.malformed)
        truth.write("persons", result.persons)
        truth.write("identifiers", result.identifiers)
        truth.write("orders", result.orders)
        truth.write("holdout_orders", result.holdout)
        for k, v in result.campaign_sums.items():
            sums[k] = sums.get(k, 0) + v
        logger.info(
            "chunk %d/%d written after %.1fs", result.chunk + 1, n_chunks, time.perf_counter() - started
        )
        del result

    if config.late_rate > 0:  # the last chunk's late rows arrive in one trailing file
        for source in CHUNK_SOURCES:
            body, count = late.get(source, (b"", 0))
            name = file_name(source, n_chunks)
            with (landing / source / name).open("wb") as f:
                f.write(header_line(source))
                f.write(body)
            stats[source].append(FileStats(source, name, data_rows=count, late_rows=count))
    truth.close()

    if config.erasure_requests:
        # drawn from the finished ground truth, after everything else: the other files do not change
        requested_at = datetime.combine(config.observation_end + timedelta(days=1), datetime.min.time())
        stats["erasure_requests"] = [
            write_erasure_requests(config.erasure_requests, config.seed, requested_at, landing, gt)
        ]
    _write_small_truth(ctx, gt, stats, sums)
    summary = SimulationSummary(persons=config.n_customers)
    for source, files in stats.items():
        summary.files[source] = [landing / source / s.file_name for s in files]
        summary.rows[source] = sum(s.data_rows for s in files)
        summary.malformed[source] = sum(s.malformed_rows for s in files)
        summary.duplicates[source] = sum(s.duplicate_rows for s in files)
    summary.seconds = time.perf_counter() - started
    logger.info(
        "simulated %d persons in %.1fs: %d landing rows",
        config.n_customers,
        summary.seconds,
        sum(summary.rows.values()),
    )
    return summary


def _write_small_truth(
    ctx: Context, gt: Path, stats: dict[str, list[FileStats]], sums: dict[str, np.ndarray]
) -> None:
    rows = [s.__dict__ for files in stats.values() for s in files]
    pq.write_table(pa.Table.from_pylist(rows, schema=FILES_SCHEMA), gt / "files.parquet")
    camp = ctx.campaigns
    k = len(camp)
    z = np.zeros(k, dtype=np.int64)
    targeted = sums.get("n_targeted", z)
    true_uplift = np.where(targeted > 0, sums.get("effect_count", z) / np.maximum(targeted, 1), np.nan)
    treated, control = sums.get("n_treated", z), sums.get("n_control", z)
    table = pa.table(
        {
            "campaign_id": camp.campaign_id,
            "channel": camp.channel,
            "objective": camp.objective,
            "started_at": pa.array(camp.started_at, _TS),
            "response_window_days": camp.window_days,
            "discount_pct": camp.discount_pct,
            "effect_multiplier": camp.effect,
            "true_uplift": pa.array(true_uplift, mask=~camp.person_level | (targeted == 0)),
            "n_targeted": targeted,
            "n_treated": treated,
            "n_control": control,
            "conversion_rate_treated": np.where(
                treated > 0, sums.get("conversions_treated", z) / np.maximum(treated, 1), np.nan
            ),
            "conversion_rate_control": np.where(
                control > 0, sums.get("conversions_control", z) / np.maximum(control, 1), np.nan
            ),
        }
    )
    pq.write_table(table, gt / "campaigns.parquet")
    pq.write_table(persona_table(), gt / "personas.parquet")
