"""No personal identifier reaches the published marts.

On a warehouse built from simulated data, every value of every table in the ``marts``
schema is scanned, except the restricted identity tables (``customer_identities``,
``customer_id_history`` and any model with ``meta: {restricted: true}``). A value fails
the test when it looks like an e-mail address, a phone number or an app device id, or
when it is one of the names, e-mails, phones, device ids, cookie / open ids, loyalty
card numbers, postcodes or birth dates written in the simulator's landing files (except
the placeholders the simulator marks as junk, such as 'unknown' or test@test.com).
"""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest

from orchestration.contracts import SOURCES
from tests.integration.test_customer_marts import BuiltWarehouse, build_customer_marts_warehouse

pytestmark = pytest.mark.integration

ALWAYS_RESTRICTED = {"customer_identities", "customer_id_history"}

#: identifier-shaped values, as RE2 patterns matched anywhere in a value
PATTERNS = {
    "e-mail": r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}",
    # a mainland mobile number, bare or with +86 / 0086 and separators, not inside a longer
    # token or number (so not the digits of an id, a hash or a decimal such as 34778.15440008655)
    "phone": r"(^|[^0-9A-Za-z.])(\+?(00)?86[ -]?)?1[3-9][0-9]([ -]?[0-9]){8}($|[^0-9A-Za-z.])",
    "device id": r"[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}",
    "cookie id": r"GA1\.[0-9]\.[0-9]+\.[0-9]+",
}

#: landing columns holding personal values besides each contract's pii_columns
EXTRA_PERSONAL_COLUMNS = {
    "social_interactions": ["open_id"],
    "shop_orders": ["account_id"],
    "app_events": ["account_id"],
    "crm_profiles": ["account_id"],
}


@pytest.fixture(scope="module")
def built(simulated: Path, tmp_path_factory: pytest.TempPathFactory) -> BuiltWarehouse:
    return build_customer_marts_warehouse(simulated, tmp_path_factory)


def restricted_tables(target_dir: Path) -> set[str]:
    """Marts that may hold identifiers: the identity tables and models flagged restricted."""
    manifest = json.loads((target_dir / "manifest.json").read_text())
    flagged = {
        node["alias"] or node["name"]
        for node in manifest["nodes"].values()
        if node["resource_type"] in ("model", "seed", "snapshot")
        and ((node.get("config") or {}).get("meta", {}).get("restricted") or node.get("meta", {}).get("restricted"))
    }
    return ALWAYS_RESTRICTED | flagged


def load_personal_values(con: duckdb.DuckDBPyConnection, landing: Path) -> None:
    """Table ``personal(kind, value)``: every personal value written to the landing files."""
    con.execute("create or replace temp table personal (kind varchar, value varchar)")
    for source, contract in SOURCES.items():
        columns = list(dict.fromkeys([*contract.pii_columns, *EXTRA_PERSONAL_COLUMNS.get(source, [])]))
        if not columns or not list((landing / source).glob("*.csv")):
            continue
        pattern = str(landing / source / "*.csv")
        for column in columns:
            con.execute(
                f"insert into personal select distinct ?, trim({column}) from read_csv(?, all_varchar = true, "
                f"header = true, ignore_errors = true, null_padding = true) "
                f"where nullif(trim({column}), '') is not null",
                [f"{source}.{column}", pattern],
            )
    crm = str(landing / "crm_profiles" / "*.csv")
    # full names in the usual orders: family name first (Chinese), given name first (Western)
    con.execute(
        "insert into personal select distinct 'crm_profiles.full_name', name from ("
        "select trim(last_name) || trim(first_name) as name from read_csv(?, all_varchar = true, header = true, "
        "ignore_errors = true, null_padding = true) union all "
        "select trim(first_name) || ' ' || trim(last_name) from read_csv(?, all_varchar = true, header = true, "
        "ignore_errors = true, null_padding = true)) where name is not null",
        [crm, crm],
    )
    # normalised forms too: lower-case e-mails, E.164 phones
    con.execute("insert into personal select kind, lower(value) from personal where value like '%@%'")
    con.execute(
        "insert into personal select kind, '+86' || right(regexp_replace(value, '[^0-9]', '', 'g'), 11) "
        "from personal where kind like '%phone'"
    )
    con.execute("create or replace temp table personal as select distinct kind, value from personal")


def drop_junk_values(con: duckdb.DuckDBPyConnection, ground_truth: Path) -> None:
    """Placeholders the simulator typed in on purpose ('unknown', test@test.com, 13800000000) are nobody's."""
    con.execute(
        "create or replace temp table junk as select distinct lower(identifier_value) as value "
        "from read_parquet(?) where is_junk",
        [str(ground_truth / "identifiers.parquet")],
    )
    con.execute(
        "delete from personal where lower(value) in (select value from junk) "
        "or (kind like '%phone' and '+86' || right(regexp_replace(value, '[^0-9]', '', 'g'), 11) "
        "in (select value from junk))"
    )


def load_mart_values(con: duckdb.DuckDBPyConnection, skip: set[str]) -> list[str]:
    """Table ``mart_values(table_name, column_name, value)``: distinct values of every scanned mart.

    The warehouse is attached as ``wh``; every column of every table, whatever its type,
    is compared as text.
    """
    tables = [
        t
        for (t,) in con.execute(
            "select table_name from information_schema.tables where table_catalog = 'wh' and table_schema = 'marts' "
            "order by 1"
        ).fetchall()
        if t not in skip
    ]
    con.execute("create or replace temp table mart_values (table_name varchar, column_name varchar, value varchar)")
    for table in tables:
        columns = [
            c
            for (c,) in con.execute(
                "select column_name from information_schema.columns where table_catalog = 'wh' "
                "and table_schema = 'marts' and table_name = ?",
                [table],
            ).fetchall()
        ]
        for column in columns:
            con.execute(
                f'insert into mart_values select distinct ?, ?, cast("{column}" as varchar) '
                f'from wh.marts."{table}" where "{column}" is not null',
                [table, column],
            )
    return tables


@pytest.fixture(scope="module")
def scan(built: BuiltWarehouse, simulated: Path):
    """An in-memory database with the mart values and the personal values side by side."""
    con = duckdb.connect()
    con.execute("attach ? as wh (read_only)", [str(built.path)])
    skipped = restricted_tables(built.target_dir)
    tables = load_mart_values(con, skipped)
    load_personal_values(con, simulated / "landing")
    drop_junk_values(con, simulated / "ground_truth")
    yield con, tables, skipped
    con.close()


def test_the_scan_covers_the_customer_marts_and_the_landing_identifiers(scan):
    con, tables, skipped = scan
    assert {"dim_customers", "fct_orders", "fct_engagement", "customer_rfm", "rfm_history"} <= set(tables)
    assert not set(tables) & skipped
    kinds = {k for (k,) in con.execute("select distinct kind from personal").fetchall()}
    for kind in (
        "crm_profiles.first_name",
        "crm_profiles.last_name",
        "crm_profiles.full_name",
        "crm_profiles.email",
        "crm_profiles.phone",
        "crm_profiles.birth_date",
        "crm_profiles.postcode",
        "shop_orders.device_id",
        "app_events.device_id",
        "web_events.cookie_id",
    ):
        assert kind in kinds, kind
    # the patterns do catch the identifiers they are meant for
    for kind, pattern in PATTERNS.items():
        source_kind = {
            "e-mail": "%email",
            "phone": "%phone",
            "device id": "app_events.device_id",
            "cookie id": "web_events.cookie_id",
        }[kind]
        share = con.execute(
            "select avg(case when regexp_matches(value, ?) then 1 else 0 end) from personal where kind like ?",
            [pattern, source_kind],
        ).fetchone()[0]
        assert share > 0.95, (kind, share)


@pytest.mark.parametrize("kind", sorted(PATTERNS))
def test_no_mart_value_looks_like_an_identifier(scan, kind: str):
    con, _, _ = scan
    hits = con.execute(
        "select table_name, column_name, any_value(value), count(*) from mart_values "
        "where regexp_matches(value, ?) group by all",
        [PATTERNS[kind]],
    ).fetchall()
    assert not hits, f"{kind}-shaped values in the marts: {hits}"


def test_no_mart_value_is_a_personal_value_from_the_landing_files(scan):
    con, _, _ = scan
    exact = con.execute(
        "select mart_values.table_name, mart_values.column_name, personal.kind, any_value(mart_values.value), "
        "count(*) from mart_values inner join personal on lower(trim(mart_values.value)) = lower(personal.value) "
        "group by all"
    ).fetchall()
    assert not exact, f"personal values in the marts: {exact}"


def test_no_mart_value_contains_a_full_name(scan):
    con, _, _ = scan
    hits = con.execute(
        "select mart_values.table_name, mart_values.column_name, any_value(mart_values.value), count(*) "
        "from mart_values inner join personal on personal.kind = 'crm_profiles.full_name' "
        "and length(personal.value) >= 2 and contains(mart_values.value, personal.value) group by all"
    ).fetchall()
    assert not hits, f"names in the marts: {hits}"
