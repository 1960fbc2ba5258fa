"""Right to erasure, end to end, judged against the simulator's ground truth.

Scenario (the issue's): the whole pipeline is built once (conftest ``full_warehouse``); a
copy of that warehouse gets an erasure request for ONE identifier of a person who left
records in many channels (their phone, written with dashes), plus an audience export file
written before the request; the full pipeline runs again. Then every column of every table
in every schema but ``seeds`` is scanned for every identifier the simulator gave the person
(in any spelling: a phone with or without +86, spaces or dashes; e-mails in any case) and for
the customer id they had: no hit may remain, nor in the export files. Customers other than
the person are unchanged where their figures do not depend on the population (scores that
rank or are fitted on all customers move a little, by design), and the marts still agree with
each other. Then an old file is delivered again, once corrected under its own name and once
as a resend under a new one: the person's rows stay out.

A second scenario covers the first-run case: the request arrives together with the person's
first delivery (the simulator's ``erasure_requests`` option), so no earlier identity graph
exists; raw, staging and identity (up to marts.customer_identities) of that first run must
not hold them.
"""

import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import duckdb
import pandas as pd
import pytest

from orchestration import definitions
from orchestration.resources import ModelStore, WarehouseResource, default_resources
from orchestration.settings import DBT_PROJECT_DIR

pytestmark = [pytest.mark.integration, pytest.mark.slow]

#: tables whose rows for a customer do not depend on other customers (no ranks, no fitted models)
INTRINSIC_TABLES = ("dim_customers", "fct_orders", "fct_engagement", "customer_identities", "customer_features",
                    "lifecycle_history")


@dataclass
class Person:
    person_id: int
    identifiers: list[tuple[str, str]]  # (type, normalised value) from the ground truth
    customer_id: str
    requested: tuple[str, str]  # (type, value as written in the request)


@dataclass
class Erased:
    root: Path
    warehouse: Path
    landing: Path
    exports: Path
    person: Person
    before: Path  # the untouched warehouse of the first build
    result: dg.ExecuteInProcessResult
    others: list[str]  # customer ids written to the export beside the person


def _resources(root: Path, landing: Path) -> dict[str, object]:
    resources = default_resources()
    resources["warehouse"] = WarehouseResource(path=str(root / "warehouse.duckdb"), landing_dir=str(landing))
    resources["model_store"] = ModelStore(path=str(root / "models"))
    return resources


def _materialize(root: Path, landing: Path, selection: dg.AssetSelection | None = None) -> dg.ExecuteInProcessResult:
    defs = definitions.defs
    result = dg.materialize(
        [*defs.assets, *(defs.asset_checks or [])], selection=selection, resources=_resources(root, landing),
        raise_on_error=False,
    )
    failures = [e.message for e in result.all_events if e.is_step_failure]
    assert result.success, failures
    return result


def pick_person(warehouse: Path, ground_truth: Path) -> Person:
    """A buyer with many identifier types, records in many channels, resolved to exactly one
    customer that holds nobody else, whose last order is not the warehouse's latest (so the
    as-of date, and with it everyone's recency, does not move when they go)."""
    con = duckdb.connect()
    con.execute("attach ? as wh (read_only)", [str(warehouse)])
    con.execute("create table idt as select * from read_parquet(?)", [str(ground_truth / "identifiers.parquet")])
    con.execute("create table rec as select * from read_parquet(?)", [str(ground_truth / "records.parquet")])
    row = con.execute("""
        with owners as (
            select identifier_type, identifier_value, count(distinct person_id) as persons
            from idt group by all
        ),
        people as (
            select idt.person_id, count(distinct idt.identifier_type) as types,
                bool_or(idt.is_shared or idt.is_junk or owners.persons > 1) as has_shared,
                bool_or(idt.identifier_type = 'cookie_id') as has_cookie,
                bool_or(idt.identifier_type = 'phone') as has_phone
            from idt inner join owners using (identifier_type, identifier_value)
            group by all
        ),
        resolved as (
            select idt.person_id, count(distinct ci.customer_id) as customers,
                count(*) filter (where ci.customer_id is null) as unresolved, any_value(ci.customer_id) as customer_id
            from idt left join wh.marts.customer_identities as ci using (identifier_type, identifier_value)
            group by all
        ),
        pure as (  -- customers whose every identifier belongs to one person
            select ci.customer_id
            from wh.marts.customer_identities as ci
            inner join idt using (identifier_type, identifier_value)
            group by all having count(distinct idt.person_id) = 1
        ),
        channels as (select person_id, count(distinct source) as sources from rec group by all),
        last_orders as (
            select customer_id, max(ordered_on) as last_order_on from wh.marts.fct_orders group by all
        )
        select p.person_id, r.customer_id
        from people as p
        inner join resolved as r using (person_id)
        inner join channels as c using (person_id)
        inner join pure on pure.customer_id = r.customer_id
        inner join last_orders as lo on lo.customer_id = r.customer_id
        where not p.has_shared and p.has_cookie and p.has_phone and p.types >= 5 and c.sources >= 6
            and r.customers = 1 and r.unresolved = 0
            and lo.last_order_on < (select max(ordered_on) from wh.marts.fct_orders)
        order by c.sources desc, p.types desc, p.person_id
        limit 1
    """).fetchone()
    assert row is not None, "no suitable person in the simulation"
    person_id, customer_id = row
    identifiers = con.execute(
        "select identifier_type, identifier_value from idt where person_id = ? order by 1, 2", [person_id]
    ).fetchall()
    phone = next(v for t, v in identifiers if t == "phone").removeprefix("+86")
    con.close()
    # one identifier, written the way a person types it: the pipeline must normalise it
    return Person(int(person_id), identifiers, customer_id, ("phone", f"{phone[:3]}-{phone[3:7]}-{phone[7:]}"))


def identifier_pattern(identifiers: list[tuple[str, str]], customer_ids: list[str]) -> str:
    """One case-insensitive RE2 / Python pattern matching any of the values in any spelling.

    Values must stand alone (not inside a longer id); phones match with or without a country
    code and with spaces, dashes, dots or brackets between digits.
    """
    parts = []
    for identifier_type, value in identifiers:
        if identifier_type == "phone":
            digits = re.sub(r"[^0-9]", "", value)[-11:]
            parts.append("(?:^|[^0-9])" + "[ ().-]?".join(digits) + "(?:$|[^0-9])")
        else:
            if identifier_type == "open_id":
                value = value.split(":", 1)[-1]
            parts.append("(?:^|[^A-Za-z0-9])" + re.escape(value) + "(?:$|[^A-Za-z0-9])")
    parts += [re.escape(c) for c in customer_ids]
    return "(?i)(?:" + "|".join(parts) + ")"


def scan_warehouse(warehouse: Path, pattern: str, schemas: tuple[str, ...] | None = None) -> list[tuple]:
    """(schema, table, column, hits, a sample) for every column of every table (seeds excluded)
    whose text matches ``pattern``."""
    hits = []
    with duckdb.connect(str(warehouse), read_only=True) as con:
        tables = con.execute(
            "select schema_name, table_name from duckdb_tables() where database_name = current_database() "
            "and schema_name <> 'seeds' order by 1, 2"
        ).fetchall()
        for schema, table in tables:
            if schemas and schema not in schemas:
                continue
            columns = [c for (c,) in con.execute(
                "select column_name from duckdb_columns() where database_name = current_database() "
                "and schema_name = ? and table_name = ?", [schema, table]
            ).fetchall()]
            for column in columns:
                n, sample = con.execute(
                    f'select count(*), any_value(cast("{column}" as varchar)) from "{schema}"."{table}" '
                    f'where regexp_matches(cast("{column}" as varchar), ?)',
                    [pattern],
                ).fetchone()
                if n:
                    hits.append((schema, table, column, n, sample))
    return hits


def scan_files(folder: Path, pattern: str) -> list[tuple[str, int]]:
    regex = re.compile(pattern)
    hits = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        n = sum(1 for line in path.read_text(encoding="utf-8", errors="replace").splitlines() if regex.search(line))
        if n:
            hits.append((str(path.relative_to(folder)), n))
    return hits


def table(warehouse: Path, sql: str, params: list | None = None) -> pd.DataFrame:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return con.execute(sql, params or []).df()


# --------------------------------------------------------------------------- scenario 1


@pytest.fixture(scope="module")
def erased(full_warehouse: Path, simulated: Path, tmp_path_factory: pytest.TempPathFactory) -> Erased:
    root = tmp_path_factory.mktemp("erasure")
    shutil.copy(full_warehouse, root / "warehouse.duckdb")
    shutil.copytree(full_warehouse.parent / "models", root / "models")
    landing = root / "landing"
    shutil.copytree(simulated / "landing", landing)
    person = pick_person(full_warehouse, simulated / "ground_truth")

    # an audience export written before the request: the person and three others
    others = table(full_warehouse, """
        select customer_id, any_value(identifier_value) filter (where identifier_type = 'email') as email,
            any_value(identifier_value) filter (where identifier_type = 'phone') as phone
        from marts.customer_identities where customer_id <> ? group by all
        having email is not null and phone is not null order by customer_id limit 3
    """, [person.customer_id])
    own = dict(person.identifiers)
    audience = pd.concat([pd.DataFrame([{"customer_id": person.customer_id, "email": own["email"],
                                         "phone": own["phone"]}]), others], ignore_index=True)
    audience["segment"] = "winback"
    exports = root / "exports"
    (exports / "audiences").mkdir(parents=True)
    audience.to_csv(exports / "audiences" / "winback.csv", index=False)
    audience[["customer_id", "segment"]].to_parquet(exports / "audiences" / "winback_ids.parquet", index=False)

    folder = landing / "erasure_requests"
    folder.mkdir()
    (folder / "erasure_requests_T1001.csv").write_text(
        "request_id,requested_at,identifier_type,identifier_value\n"
        f"T1001,2026-07-15 09:30:00,{person.requested[0]},{person.requested[1]}\n"
    )
    result = _materialize(root, landing)
    return Erased(root, root / "warehouse.duckdb", landing, exports, person, full_warehouse, result,
                  others["customer_id"].tolist())


def test_the_request_names_one_identifier_and_reaches_every_record_of_the_person(erased: Erased, simulated: Path):
    log = table(erased.warehouse, "select * from raw.erasure_log")
    assert log[["request_id", "identifier_type", "status", "customers_erased"]].to_dict("records") == [
        {"request_id": "T1001", "identifier_type": "phone", "status": "erased", "customers_erased": 1}
    ]
    assert log.loc[0, "identifiers_erased"] == len(erased.person.identifiers)
    # every raw row the simulator wrote for the person went (exact duplicates of a row go with it)
    records = pd.read_parquet(simulated / "ground_truth" / "records.parquet")
    truth = records[records.person_id == erased.person.person_id].groupby(["source", "file_name"]).size()
    manifest = table(erased.warehouse, "select source, file_name, rows_erased from raw.load_manifest "
                     "where is_current and rows_erased > 0").set_index(["source", "file_name"])["rows_erased"]
    assert set(truth.index) <= set(manifest.index)
    assert all(manifest[k] >= n for k, n in truth.items()), (truth, manifest)
    # the cookie was never on a record with the phone: only identity resolution links it
    assert (records[records.person_id == erased.person.person_id].source == "web_events").any()
    assert table(erased.warehouse, "select count(*) as n from staging.stg_web_events__events").n[0] == table(
        erased.before, "select count(*) as n from staging.stg_web_events__events").n[0] - truth["web_events"].sum()


def test_no_table_and_no_export_holds_the_person(erased: Erased):
    pattern = identifier_pattern(erased.person.identifiers, [erased.person.customer_id])
    found_before = scan_warehouse(erased.before, pattern)
    # the scan does see the person where they were: raw, staging, identity, marts, histories, scores
    # (and audiences, when the person happened to be in one)
    assert {"raw", "staging", "intermediate", "marts"} <= {s for s, *_ in found_before} <= {
        "raw", "staging", "intermediate", "marts", "audiences"}
    assert {"customer_identities", "dim_customers", "rfm_history", "customer_clv", "customer_segments",
            "customer_churn_risk"} <= {t for _, t, *_ in found_before}
    assert scan_warehouse(erased.warehouse, pattern) == []
    assert scan_files(erased.exports, pattern) == []
    with duckdb.connect(str(erased.warehouse), read_only=True) as con:
        schemas = {s for (s,) in con.execute("select schema_name from duckdb_schemas()").fetchall()}
    assert not [s for s in schemas if s.startswith("erasure_scope__")]  # the scratch identity graph is gone


def test_exports_keep_everyone_else(erased: Erased):
    audience = pd.read_csv(erased.exports / "audiences" / "winback.csv")
    assert audience["customer_id"].tolist() == erased.others
    ids = pd.read_parquet(erased.exports / "audiences" / "winback_ids.parquet")
    assert ids["customer_id"].tolist() == erased.others
    metadata = next(ev.materialization.metadata for ev in erased.result.get_asset_materialization_events()
                    if ev.asset_key == dg.AssetKey(["raw", "erasures"]))
    assert metadata["export_rows_removed"].value == 2


@pytest.mark.parametrize("name", INTRINSIC_TABLES)
def test_other_customers_are_unchanged(erased: Erased, name: str):
    key = "customer_id"
    before = table(erased.before, f"select * from marts.{name} where {key} is distinct from ?",
                   [erased.person.customer_id])
    after = table(erased.warehouse, f"select * from marts.{name}")
    order = list(before.columns)
    before = before.sort_values(order, ignore_index=True, na_position="first")
    after = after[order].sort_values(order, ignore_index=True, na_position="first")
    pd.testing.assert_frame_equal(before, after)


def test_aggregates_stay_consistent(erased: Erased):
    def figures(warehouse: Path) -> dict:
        return table(warehouse, """
            select
                (select count(*) from marts.dim_customers) as customers,
                (select sum(revenue_amount) from marts.fct_orders where customer_id is not null) as resolved_revenue,
                (select sum(revenue_amount) from marts.fct_orders where customer_id is null) as unresolved_revenue,
                (select sum(total_revenue) from marts.dim_customers) as customer_revenue,
                (select sum(monetary_total) from marts.customer_rfm) as rfm_revenue,
                (select count(*) from marts.dim_customers where is_buyer) as buyers,
                (select count(*) from marts.customer_rfm) as rfm_customers,
                (select count(*) from marts.customer_clv) as clv_customers,
                (select count(*) from marts.customer_segments) as segmented,
                (select count(*) from marts.customer_churn_risk) as scored,
                (select sum(customer_count) from (select distinct segment_id, customer_count
                    from marts.segment_profiles)) as segment_sizes,
                (select sum(customers) from marts.clv_by_acquisition_channel) as channel_customers
        """).iloc[0].to_dict()

    before, after = figures(erased.before), figures(erased.warehouse)
    person_revenue = table(erased.before, "select sum(revenue_amount) as r from marts.fct_orders where customer_id = ?",
                           [erased.person.customer_id]).r[0]
    assert person_revenue > 0
    assert after["customers"] == before["customers"] - 1
    assert after["buyers"] == before["buyers"] - 1
    # the person's orders left every total alike; orders nobody could be told from are untouched
    assert after["resolved_revenue"] == before["resolved_revenue"] - person_revenue
    assert after["unresolved_revenue"] == before["unresolved_revenue"]
    # and the marts still agree with each other
    assert after["customer_revenue"] == after["rfm_revenue"] == after["resolved_revenue"]
    assert (after["buyers"] == after["rfm_customers"] == after["clv_customers"] == after["segmented"]
            == after["scored"] == after["segment_sizes"] == after["channel_customers"])


def test_every_file_is_accounted_for(erased: Erased):
    unbalanced = table(erased.warehouse, """
        select source, file_name, rows_landed, rows_loaded, rows_rejected, rows_erased
        from raw.load_manifest
        where is_current and status not in ('duplicate', 'refused')
            and rows_landed <> rows_loaded + rows_rejected + rows_erased
    """)
    assert unbalanced.empty
    # raw and rejects hold exactly the loaded and rejected rows (the loader's check), and the
    # erasure checks pass
    checks = {(e.asset_key.to_user_string(), e.check_name): e.passed
              for e in erased.result.get_asset_check_evaluations()
              if e.check_name in ("requests_applied", "erased_identifiers_absent", "row_accounting")}
    assert checks[("raw/erasures", "requests_applied")]
    assert checks[("marts/customer_identities", "erased_identifiers_absent")]
    assert all(passed for (_, name), passed in checks.items() if name == "row_accounting")


def test_the_dbt_audience_hook_agrees_with_the_tombstones(erased: Erased):
    """The macro audience models use computes the same hash as the erasure step."""
    own = dict(erased.person.identifiers)
    other_email = table(erased.warehouse, "select identifier_value from marts.customer_identities "
                        "where identifier_type = 'email' limit 1").identifier_value[0]
    inline = (
        f"""select {{{{ erasure_is_erased("'email'", "'{own['email']}'") }}}} as person_email, """
        f"""{{{{ erasure_is_erased("'customer_id'", "'{erased.person.customer_id}'") }}}} as person_id, """
        f"""{{{{ erasure_is_erased("'email'", "'{other_email}'") }}}} as other_email"""
    )
    dbt = Path(sys.executable).with_name("dbt")
    out = subprocess.run(
        [str(dbt), "show", "--inline", inline, "--project-dir", str(DBT_PROJECT_DIR), "--profiles-dir",
         str(DBT_PROJECT_DIR), "--target-path", str(erased.root / "dbt_target"), "--log-path",
         str(erased.root / "dbt_target"), "--output", "json", "--quiet"],
        cwd=DBT_PROJECT_DIR, env={**os.environ, "C360_WAREHOUSE_PATH": str(erased.warehouse)},
        capture_output=True, text=True, check=True,
    )
    shown = json.loads(out.stdout[out.stdout.index("{"):out.stdout.rindex("}") + 1])["show"]
    assert shown == [{"person_email": True, "person_id": True, "other_email": False}]


# --------------------------------------------------------------------------- re-delivery (runs last)


@pytest.fixture(scope="module")
def redelivered(erased: Erased, simulated: Path) -> dg.ExecuteInProcessResult:
    """Old files come back after the erasure: corrected under their own name, and resent under a new one."""
    records = pd.read_parquet(simulated / "ground_truth" / "records.parquet")
    mine = records[records.person_id == erased.person.person_id]
    # 1. shop_orders_part0000.csv again, rows in another order (other bytes: it replaces the old delivery)
    shop = erased.landing / "shop_orders" / "shop_orders_part0000.csv"
    assert (mine.file_name == shop.name).any()
    header, *lines = shop.read_text().splitlines(keepends=True)
    shop.write_text(header + "".join(reversed(lines)))
    # 2. the person's web events resent in a new file, as the channel wrote them
    web = erased.landing / "web_events"
    keys = set(mine.loc[mine.source == "web_events", "record_key"])
    files = sorted(web.glob("web_events_part*.csv"))
    resent = [files[0].read_text().splitlines(keepends=True)[0]]
    for path in files:
        resent += [line for line in path.read_text().splitlines(keepends=True)[1:] if line.split(",", 1)[0] in keys]
    assert len(resent) > 1
    (web / "web_events_resend_20261124.csv").write_text("".join(resent))
    # the raw layer is where rows enter; everything downstream is built from it
    return _materialize(erased.root, erased.landing, dg.AssetSelection.groups("raw"))


def test_redelivered_rows_of_the_person_stay_out(erased: Erased, redelivered: dg.ExecuteInProcessResult,
                                                 simulated: Path):
    manifest = table(erased.warehouse, "select file_name, status, rows_landed, rows_loaded, rows_rejected, "
                     "rows_erased from raw.load_manifest where is_current and file_name in "
                     "('shop_orders_part0000.csv', 'web_events_resend_20261124.csv')").set_index("file_name")
    records = pd.read_parquet(simulated / "ground_truth" / "records.parquet")
    mine = records[records.person_id == erased.person.person_id]
    shop = manifest.loc["shop_orders_part0000.csv"]
    assert shop.status == "replaced"
    assert shop.rows_erased >= (mine.file_name == "shop_orders_part0000.csv").sum()
    resend = manifest.loc["web_events_resend_20261124.csv"]
    # every row was the person's: nothing loaded, so nothing for GX to mistake for a truncated file
    assert (resend.status, resend.rows_loaded, resend.rows_rejected) == ("erased", 0, 0)
    assert resend.rows_erased == resend.rows_landed >= (mine.source == "web_events").sum()
    pattern = identifier_pattern(erased.person.identifiers, [erased.person.customer_id])
    assert scan_warehouse(erased.warehouse, pattern) == []
    failed = [(e.asset_key.to_user_string(), e.check_name) for e in redelivered.get_asset_check_evaluations()
              if not e.passed and e.severity == dg.AssetCheckSeverity.ERROR]
    assert failed == []


# --------------------------------------------------------------------------- scenario 2: first run


@pytest.fixture(scope="module")
def first_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, dg.ExecuteInProcessResult]:
    """The requests arrive with the persons' first delivery: no identity graph existed before."""
    from orchestration.sample_data.simulator import SimulationConfig, simulate

    root = tmp_path_factory.mktemp("erasure_first_run")
    simulate(SimulationConfig(n_customers=600, seed=11, erasure_requests=2), root / "sim")
    # everything identity resolution is built from, up to the customer identities
    result = _materialize(root, root / "sim" / "landing",
                          dg.AssetSelection.assets(["marts", "customer_identities"]).upstream())
    return root, root / "sim" / "ground_truth", result


def test_first_run_never_stages_the_persons(first_run, full_warehouse: Path):
    root, ground_truth, _ = first_run
    requests = pd.read_parquet(ground_truth / "erasure_requests.parquet")
    assert len(requests) == 2
    # What the data ties to each person: the identifiers of the customer owning the requested one
    # in a build of the same simulation without the requests (conftest's full warehouse). An
    # identifier no record links to the others (a cookie that never logged in) is a customer of
    # its own there, and a request naming another identifier cannot reach it.
    named = ", ".join(f"('{t}', '{v}')" for t, v in zip(requests.identifier_type, requests.identifier_value,
                                                          strict=True))
    linked = table(full_warehouse, f"""
        with owners as (
            select identifier_type, identifier_value, customer_id from marts.customer_identities
            where (identifier_type, identifier_value) in ({named})
        )
        select owners.identifier_value as requested, ci.identifier_type, ci.identifier_value
        from owners inner join marts.customer_identities as ci using (customer_id)
    """)
    truth = pd.read_parquet(ground_truth / "identifiers.parquet")
    mine = truth[truth.person_id.isin(requests.person_id)]
    # identity resolution ties the request to those persons' identifiers only: nobody else is erased
    # (the ground truth writes open ids without their platform)
    bare = linked.identifier_value.where(linked.identifier_type != "open_id",
                                         linked.identifier_value.str.split(":", n=1).str[-1])
    assert set(zip(linked.identifier_type, bare, strict=True)) <= set(
        zip(mine.identifier_type, mine.identifier_value, strict=True))
    log = table(root / "warehouse.duckdb", "select request_id, status, customers_erased, identifiers_erased "
                "from raw.erasure_log order by 1")
    # the first run resolves the same person the next run would have, and never minted an id for them
    expected = linked.groupby("requested").size()
    assert log.to_dict("records") == [
        {"request_id": r, "status": "erased", "customers_erased": 0, "identifiers_erased": expected[v]}
        for r, v in zip(requests.request_id, requests.identifier_value, strict=True)
    ]
    pattern = identifier_pattern(list(zip(linked.identifier_type, linked.identifier_value, strict=True)), [])
    assert scan_warehouse(root / "warehouse.duckdb", pattern) == []
    # the rest of the population is there
    records = pd.read_parquet(ground_truth / "records.parquet")
    staged = table(root / "warehouse.duckdb", "select count(*) as n from staging.stg_crm_profiles__members").n[0]
    before = table(full_warehouse, "select count(*) as n from staging.stg_crm_profiles__members").n[0]
    erased_members = records[records.person_id.isin(requests.person_id) & (records.source == "crm_profiles")]
    assert staged == before - erased_members.record_key.str.split("|").str[0].nunique()
