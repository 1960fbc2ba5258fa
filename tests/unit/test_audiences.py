"""Audience rules and exports on a small hand-made warehouse.

The YAML is data, not SQL: every malformed or hostile rule is refused with a message that
names the problem, and values travel as bound parameters. build_audiences is checked end to
end on hand-made marts: who is exported, why the others are not (eligibility, the raw-layer
guards, erasure tombstones), the files, their permissions, the manifest and stale files.
"""

import json
import stat
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from orchestration import audiences, erasure
from orchestration.ingestion.loader import ensure_raw_tables

VALID = """
version: 1
audiences:
  - name: winback
    channel: email
    where:
      - {field: customers.order_count, gte: 1}
      - any:
          - {field: customers.region, in: [north, south]}
          - {field: customers.region, is_null: true}
    payload: [customers.region]
    order_by: {field: customers.order_count, descending: true}
  - name: best
    channel: best
    where:
      - {field: customers.is_identified, eq: true}
"""


def test_the_shipped_audience_file_is_valid():
    parsed = audiences.load_audiences(audiences.DEFAULT_AUDIENCES_PATH)
    assert len(parsed.audiences) >= 4
    assert {a.channel for a in parsed.audiences} >= {"email", "sms", "push", "social", "best"}


def test_a_valid_file_parses_into_conditions_and_groups():
    parsed = audiences.parse_audiences(VALID)
    winback = parsed.audiences[0]
    assert winback.where[0].operator == "gte"
    assert isinstance(winback.where[1], audiences.AnyOf)
    assert winback.fields() == [
        "customers.order_count", "customers.region", "customers.region", "customers.region", "customers.order_count"
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("snippet", "problem"),
    [
        ("{field: customers.region; drop table marts.dim_customers, eq: 1}", "<table>.<column>"),
        ("{field: customer_identities.identifier_value, eq: x}", "unknown table"),
        ("{field: customers.Region, eq: x}", "lower case"),
        ("{field: customers.region, eq: x, ne: y}", "exactly one operator"),
        ("{field: customers.region}", "exactly one operator"),
        ("{field: customers.region, like: '%x%'}", "Extra inputs"),
        ("{field: customers.region, in: []}", "at least 1"),
        ("{field: customers.region, eq: {nested: dict}}", "eq"),
        ("{field: customers.region, between: [1]}", "between"),
    ],
)
def test_malformed_or_hostile_rules_are_refused(snippet: str, problem: str):
    text = f"audiences:\n  - name: a\n    channel: email\n    where:\n      - {snippet}\n"
    with pytest.raises(audiences.AudienceConfigError, match=problem):
        audiences.parse_audiences(text)


@pytest.mark.parametrize(
    ("audience", "problem"),
    [
        ("name: Bad Name\n    channel: email", "name must match"),
        ("name: x\n    channel: fax", "channel"),
        ("name: x\n    channel: email\n    sql: select 1", "Extra inputs"),
        ("name: x\n    channel: email\n    limit: 10", "limit needs order_by"),
    ],
)
def test_malformed_audiences_are_refused(audience: str, problem: str):
    text = f"audiences:\n  - {audience}\n    where:\n      - {{field: customers.region, eq: x}}\n"
    with pytest.raises(audiences.AudienceConfigError, match=problem):
        audiences.parse_audiences(text)


def test_duplicate_names_and_bad_yaml_are_refused():
    one = "  - name: a\n    channel: sms\n    where: [{field: customers.region, eq: x}]\n"
    with pytest.raises(audiences.AudienceConfigError, match="unique"):
        audiences.parse_audiences("audiences:\n" + one + one)
    with pytest.raises(audiences.AudienceConfigError, match="not valid YAML"):
        audiences.parse_audiences("audiences: [unclosed")


def test_values_are_bound_parameters_never_sql():
    catalog = {"customers": {"customer_id", "is_identified", "region", "order_count"}}
    hostile = "x'); drop table marts.dim_customers; --"
    parsed = audiences.parse_audiences(
        "audiences:\n  - name: a\n    channel: email\n    where:\n"
        f'      - {{field: customers.region, in: ["{hostile}", north]}}\n'
    )
    compiled = audiences.compile_audience(parsed.audiences[0], catalog)
    assert hostile not in compiled.sql
    assert compiled.params == [hostile, "north"]
    assert "customers.region in (?, ?)" in compiled.sql


def test_columns_are_checked_against_the_warehouse():
    parsed = audiences.parse_audiences("audiences:\n  - name: a\n    channel: email\n    where:\n"
                                       "      - {field: vap.no_such_column, eq: 1}\n")
    with pytest.raises(audiences.AudienceConfigError, match="is not in the warehouse"):
        audiences.compile_audience(parsed.audiences[0], {"customers": {"customer_id"}})
    with pytest.raises(audiences.AudienceConfigError, match="has no column 'no_such_column'"):
        audiences.compile_audience(parsed.audiences[0], {"customers": {"customer_id"}, "vap": {"customer_id"}})


# --------------------------------------------------------------------------- end to end on a small warehouse

CUSTOMERS = ["c1", "c2", "c3", "c4", "c5", "c6", "c7"]


@pytest.fixture
def warehouse() -> duckdb.DuckDBPyConnection:
    """Seven identified customers, each with an e-mail; c1..c7 set up to hit one rule each."""
    con = duckdb.connect()
    ensure_raw_tables(con, ["email_engagement", "sms_engagement", "push_engagement", "social_interactions",
                            "suppressions"])
    con.execute("create schema marts")
    con.execute(
        "create table marts.dim_customers as select * from (values "
        + ", ".join(f"('{c}', true, {i}, 'north', date '2026-06-30')" for i, c in enumerate(CUSTOMERS, 1))
        + ", ('anon', false, 9, 'north', date '2026-06-30')) as t(customer_id, is_identified, order_count, region, "
        "as_of_date)"
    )
    reasons = {"c2": "no_consent", "c3": "unsubscribed", "c4": "suppressed"}
    rows = []
    for c in CUSTOMERS:
        for ch in audiences.CHANNELS:
            reason = reasons.get(c) if ch == "email" else "no_consent"
            rows.append((c, ch, reason, pd.Timestamp("2025-01-01")))
    frame = pd.DataFrame(rows, columns=["customer_id", "channel", "exclusion_reason", "consented_at"])
    con.register("_e", frame)
    con.execute("create table marts.customer_channel_eligibility as select * from _e")
    con.execute(
        "create table marts.customer_channel_addresses as select customer_id, 'email' as channel, "
        "'email' as address_type, customer_id || '@example.com' as address from marts.dim_customers "
        "where customer_id <> 'c7'"  # c7 has no address: eligibility says so too (kept consistent below)
    )
    con.execute("update marts.customer_channel_eligibility set exclusion_reason = 'no_address' "
                "where customer_id = 'c7' and channel = 'email'")
    con.execute(
        "create table marts.customer_next_best_action as select customer_id, "
        "case when customer_id in ('c1', 'c5', 'c6') then 'email' end as best_channel from marts.dim_customers"
    )
    return con


def _config(extra: str = "") -> audiences.AudienceFile:
    return audiences.parse_audiences(
        "audiences:\n"
        "  - name: everyone_email\n    channel: email\n    where: [{field: customers.order_count, gte: 1}]\n"
        "    payload: [customers.region]\n"
        "  - name: everyone_best\n    channel: best\n    where: [{field: customers.is_identified, eq: true}]\n"
        + extra
    )


def _exported(exports: Path, channel: str, name: str) -> list[str]:
    return pd.read_csv(exports / channel / f"audience_{name}.csv")["customer_id"].tolist()


def test_exports_only_contactable_customers_and_counts_every_exclusion(warehouse, tmp_path: Path):
    exports = tmp_path / "exports"
    run = audiences.build_audiences(warehouse, _config(), exports)
    email = {o.name: o for o in run.outcomes}["everyone_email"]
    assert email.matched == 7  # identified customers only: "anon" never matches
    assert _exported(exports, "email", "everyone_email") == ["c1", "c5", "c6"]
    assert email.excluded == {"no_consent": 1, "unsubscribed": 1, "suppressed": 1, "no_address": 1}
    best = {o.name: o for o in run.outcomes}["everyone_best"]
    assert best.exported == 3 and best.excluded == {"no_contactable_channel": 4}
    table = warehouse.execute(
        "select customer_id, is_exported, exclusion_reason, customers__region from audiences.audience_everyone_email "
        "order by customer_id"
    ).fetchall()
    assert table[0] == ("c1", True, None, "north") and table[1] == ("c2", False, "no_consent", "north")
    manifest = json.loads((exports / "manifest.json").read_text())
    entry = {a["name"]: a for a in manifest["audiences"]}["everyone_email"]
    assert entry["exported"] == 3 and entry["files"][0]["rows"] == 3
    assert entry["excluded"]["erased"] == 0 and entry["excluded"]["no_consent"] == 1
    # restricted files: owner only
    for path in [*exports.rglob("*.csv"), exports / "manifest.json"]:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    assert stat.S_IMODE((exports / "email").stat().st_mode) == 0o700
    header = (exports / "email" / "audience_everyone_email.csv").read_text().splitlines()[0]
    assert header == "customer_id,channel,address_type,address,audience_name,as_of_date,customers__region"


def test_raw_unsubscribes_suppressions_and_tombstones_exclude_even_before_marts_are_rebuilt(warehouse, tmp_path):
    """Rows that reached raw after the marts were built still stop an export (the last-mile guard)."""
    warehouse.execute(
        "insert into raw.email_engagement (event_id, occurred_at, email, event_type) values "
        "('e1', timestamp '2026-01-01', ' C1@Example.com ', 'unsubscribe'), "
        # before the consent of 2025-01-01: a later consent overrides it
        "('e2', timestamp '2024-06-01', 'c5@example.com', 'unsubscribe')"
    )
    warehouse.execute(
        "insert into raw.suppressions (suppression_id, suppressed_at, channel, identifier_type, identifier_value) "
        "values ('s1', timestamp '2026-01-01', 'all', 'customer_id', 'c6'), "
        "('s2', timestamp '2026-01-01', 'sms', 'email', 'c5@example.com')"  # another channel: no effect on email
    )
    exports = tmp_path / "exports"
    run = audiences.build_audiences(warehouse, _config(), exports)
    assert _exported(exports, "email", "everyone_email") == ["c5"]
    excluded = {o.name: o for o in run.outcomes}["everyone_email"].excluded
    assert excluded["unsubscribed"] == 2 and excluded["suppressed"] == 2

    # c5 is erased: a tombstone on the e-mail keeps them out even though marts still hold them
    warehouse.execute(
        f"insert into raw.erasure_tombstones select 'email', {erasure.hash_sql(chr(39) + 'email' + chr(39), '?')}, "
        "'R1', now()::timestamp",
        ["c5@example.com"],
    )
    run = audiences.build_audiences(warehouse, _config(), exports)
    assert _exported(exports, "email", "everyone_email") == []
    assert {o.name: o for o in run.outcomes}["everyone_email"].excluded["erased"] == 1
    # the best-channel audience had c5 in email: its file is gone, not left stale
    assert not (exports / "email" / "audience_everyone_best.csv").exists()


def test_removed_audiences_lose_their_tables_and_files(warehouse, tmp_path: Path):
    exports = tmp_path / "exports"
    extra = "  - name: gone_soon\n    channel: email\n    where: [{field: customers.order_count, gte: 1}]\n"
    audiences.build_audiences(warehouse, _config(extra), exports)
    assert (exports / "email" / "audience_gone_soon.csv").exists()
    run = audiences.build_audiences(warehouse, _config(), exports)
    assert not (exports / "email" / "audience_gone_soon.csv").exists()
    assert "email/audience_gone_soon.csv" in run.stale_files_removed
    tables = {t for (t,) in warehouse.execute(
        "select table_name from duckdb_tables() where schema_name = 'audiences'").fetchall()}
    assert tables == {"audience_everyone_email", "audience_everyone_best", "export_manifest"}


def test_limit_takes_the_first_customers_by_order_by(warehouse, tmp_path: Path):
    cfg = audiences.parse_audiences(
        "audiences:\n  - name: top2\n    channel: email\n    where: [{field: customers.order_count, gte: 1}]\n"
        "    order_by: {field: customers.order_count, descending: true}\n    limit: 3\n"
    )
    run = audiences.build_audiences(warehouse, cfg, tmp_path / "exports")
    # the 3 largest order counts are c7, c6, c5; c7 has no address
    assert run.outcomes[0].matched == 3
    assert _exported(tmp_path / "exports", "email", "top2") == ["c6", "c5"]
