"""The published warehouse: analyst-facing marts only, swapped in atomically under open read-only sessions.

The central test holds read-only sessions open on ``published/c360.duckdb`` (one in another
process, as an analyst's DuckDB shell would be, and one in the test process itself) while a
Dagster run rebuilds a mart, publishes and renders the report. On Linux the rename leaves the
open sessions on the old inode: they keep reading the old, complete snapshot, the run never
waits for them, and every connection opened afterwards sees the new file.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import dagster as dg
import duckdb
import pytest

from orchestration import publish as publish_lib
from orchestration.publish import PublishedTable, analyst_tables, load_manifest, open_published, restricted_tables
from orchestration.settings import DBT_PROJECT_DIR, published_path_for, report_path_for

pytestmark = pytest.mark.integration

# An analyst's session: opened once, kept open, asked for a snapshot on every input line.
ANALYST = r"""
import json, sys, duckdb
con = duckdb.connect(sys.argv[1], read_only=True)
def snapshot():
    run_id = con.execute("select max(dagster_run_id) from about.tables").fetchone()[0]
    rows, clv = con.execute("select count(*), sum(clv_12m) from marts.customer_clv").fetchone()
    listed = con.execute("select row_count from about.tables where table_name = 'customer_clv'").fetchone()[0]
    return {"run_id": run_id, "rows": rows, "clv_sum": round(clv, 6), "listed_rows": listed}
print(json.dumps(snapshot()), flush=True)
for _ in sys.stdin:
    print(json.dumps(snapshot()), flush=True)
"""

FRESH_READER = ANALYST.replace("for _ in sys.stdin:\n    print(json.dumps(snapshot()), flush=True)\n", "")


def _snapshot(con: duckdb.DuckDBPyConnection) -> dict[str, Any]:
    run_id = con.execute("select max(dagster_run_id) from about.tables").fetchone()[0]
    rows, clv = con.execute("select count(*), sum(clv_12m) from marts.customer_clv").fetchone()
    listed = con.execute("select row_count from about.tables where table_name = 'customer_clv'").fetchone()[0]
    return {"run_id": run_id, "rows": rows, "clv_sum": round(clv, 6), "listed_rows": listed}


def _ask(analyst: subprocess.Popen[str]) -> dict[str, Any]:
    assert analyst.stdin is not None and analyst.stdout is not None
    analyst.stdin.write("snapshot\n")
    analyst.stdin.flush()
    return json.loads(analyst.stdout.readline())


def _resources(work: Path, landing: Path) -> dict[str, object]:
    from orchestration.resources import ModelStore, WarehouseResource, default_resources

    resources = default_resources()
    resources["warehouse"] = WarehouseResource(path=str(work / "warehouse.duckdb"), landing_dir=str(landing))
    resources["model_store"] = ModelStore(path=str(work / "models"))
    return resources


def _materialize(selection: list[str], resources: dict[str, object]) -> dg.ExecuteInProcessResult:
    from orchestration import definitions

    defs = definitions.defs
    return dg.materialize(
        [*defs.assets, *(defs.asset_checks or [])],  # type: ignore[list-item]
        selection=dg.AssetSelection.from_coercible(selection),
        resources=resources,
        raise_on_error=False,
    )


@pytest.fixture(scope="module")
def manifest() -> dict[str, Any]:
    return load_manifest(DBT_PROJECT_DIR / "target" / "manifest.json")


# --------------------------------------------------------------------------- what is published


def test_every_marts_asset_is_published_or_restricted(manifest: dict[str, Any]) -> None:
    """A new mart must be declared (dbt model, or dbt source for a Python asset) or it is silently not published."""
    from orchestration import definitions

    published = {t.name for t in analyst_tables(manifest)}
    restricted = set(restricted_tables(manifest))
    marts_tables: set[str] = set()
    for assets_def in definitions.defs.assets or []:
        for spec in getattr(assets_def, "specs", []):
            table = str(spec.metadata.get("dagster/table_name", ""))
            if table.startswith("marts."):
                marts_tables.add(table.removeprefix("marts."))
            elif spec.key.path[0] == "marts" and len(spec.key.path) == 2:
                marts_tables.add(spec.key.path[1])
    assert {"dim_customers", "customer_clv", "customer_segments", "customer_churn_risk"} <= marts_tables
    undeclared = sorted(marts_tables - published - restricted)
    assert not undeclared, f"declare these marts as dbt sources with meta.dagster.asset_key: {undeclared}"


def test_publish_deps_are_the_published_tables(manifest: dict[str, Any]) -> None:
    from orchestration import definitions
    from orchestration.assets.publish import PUBLISH_KEY

    graph = definitions.defs.resolve_asset_graph()
    parents = graph.get(PUBLISH_KEY).parent_keys
    expected = {dg.AssetKey(list(t.asset_key)) for t in analyst_tables(manifest)}
    assert parents == expected
    restricted = {dg.AssetKey(["marts", name]) for name in restricted_tables(manifest)}
    assert not parents & restricted


# --------------------------------------------------------------------------- the swap, on a tiny warehouse


@pytest.fixture()
def tiny(tmp_path: Path) -> Path:
    """A warehouse with one analyst table, one restricted and one undeclared table."""
    path = tmp_path / "warehouse.duckdb"
    with duckdb.connect(str(path)) as con:
        con.execute("create schema marts")
        con.execute("create table marts.orders as select range as order_id, range * 10.0 as amount from range(5)")
        con.execute("create table marts.secrets as select 'a@example.com' as email")
        con.execute("create table marts.scratch as select 1 as x")
    return path


TINY = [PublishedTable("orders", ("marts", "orders"), "One row per order.", {"order_id": "Order id.",
                                                                            "amount": "Net amount."})]


def _tiny_publish(warehouse: Path, target: Path, run_id: str) -> publish_lib.PublishResult:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return publish_lib.publish(con, target, TINY, run_id, datetime.now(UTC), restricted=["secrets"])


def test_publish_copies_declared_tables_with_their_docs(tiny: Path) -> None:
    target = tiny.parent / "published" / "c360.duckdb"
    result = _tiny_publish(tiny, target, "run-1")
    assert result.row_counts == {"orders": 5}
    assert result.unpublished == ["scratch"]  # undeclared: reported, not published; restricted: silent
    assert result.missing == []
    assert not target.stat().st_mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH)  # read-only on disk
    assert sorted(p.name for p in target.parent.iterdir()) == ["c360.duckdb"]  # no build file, no .wal
    with open_published(target) as con:
        tables = con.execute(
            "select schema_name || '.' || table_name, comment from duckdb_tables() "
            "where database_name = current_database() order by 1"
        ).fetchall()
        assert [t for t, _ in tables] == ["about.columns", "about.tables", "marts.orders"]
        assert dict(tables)["marts.orders"] == "One row per order."
        comments = dict(con.execute(
            "select column_name, comment from duckdb_columns() where table_name = 'orders'").fetchall())
        assert comments == {"order_id": "Order id.", "amount": "Net amount."}
        assert con.execute("select table_name, row_count, dagster_run_id from about.tables").fetchall() == [
            ("orders", 5, "run-1")]


def test_failed_publish_leaves_the_previous_copy_untouched(tiny: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tiny.parent / "published" / "c360.duckdb"
    _tiny_publish(tiny, target, "run-1")
    before = (target.stat().st_ino, target.read_bytes())

    def broken(*args: object, **kwargs: object) -> dict[str, int]:
        raise RuntimeError("disk full halfway through")

    monkeypatch.setattr(publish_lib, "_copy_tables", broken)
    with pytest.raises(RuntimeError, match="disk full"):
        _tiny_publish(tiny, target, "run-2")
    assert (target.stat().st_ino, target.read_bytes()) == before
    assert sorted(p.name for p in target.parent.iterdir()) == ["c360.duckdb"]


def test_a_crashed_publish_build_is_cleaned_up(tiny: Path) -> None:
    target = tiny.parent / "published" / "c360.duckdb"
    target.parent.mkdir()
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    stale = target.with_name(f".c360.duckdb.{dead.stdout.strip()}.abc.tmp")
    stale.write_bytes(b"half a database")
    stale.with_name(stale.name + ".wal").write_bytes(b"wal")
    _tiny_publish(tiny, target, "run-1")
    assert sorted(p.name for p in target.parent.iterdir()) == ["c360.duckdb"]


# --------------------------------------------------------------------------- the full pipeline


def test_published_copy_of_the_pipeline_is_complete_and_documented(
    full_warehouse: Path, manifest: dict[str, Any]
) -> None:
    """The session's full build published every analyst-facing table, documented, and nothing restricted."""
    target = published_path_for(full_warehouse)
    with open_published(target) as con:
        tables = dict(con.execute(
            "select table_name, comment from duckdb_tables() where schema_name = 'marts'").fetchall())
        undocumented = con.execute(
            "select table_name || '.' || column_name from duckdb_columns() "
            "where schema_name = 'marts' and coalesce(comment, '') = '' order by 1"
        ).fetchall()
        listed = dict(con.execute("select table_name, row_count from about.tables").fetchall())
        counts = {t: con.execute(f"select count(*) from marts.{t}").fetchone()[0] for t in tables}
    expected = {t.name for t in analyst_tables(manifest)}
    assert set(tables) == expected, "published tables differ from the analyst-facing marts"
    assert not set(tables) & set(restricted_tables(manifest))
    assert all(tables.values()), [t for t, c in tables.items() if not c]
    assert not undocumented, f"published columns without a description: {[c for (c,) in undocumented]}"
    assert listed == counts
    with duckdb.connect(str(full_warehouse), read_only=True) as con:
        for table in ("dim_customers", "customer_rfm", "customer_clv"):
            assert counts[table] == con.execute(f"select count(*) from marts.{table}").fetchone()[0]
    assert report_path_for(full_warehouse).exists()


def test_open_read_only_sessions_survive_a_run_that_publishes(
    full_warehouse: Path, simulated: Path, tmp_path: Path
) -> None:
    # A private copy: this test changes data, the session's warehouse stays as other tests expect.
    work = tmp_path / "work"
    work.mkdir()
    shutil.copy(full_warehouse, work / "warehouse.duckdb")
    shutil.copytree(full_warehouse.parent / "models", work / "models")
    resources = _resources(work, simulated / "landing")
    published = published_path_for(work / "warehouse.duckdb")

    first = _materialize(["publish"], resources)
    assert first.success
    analyst = subprocess.Popen(
        [sys.executable, "-c", ANALYST, str(published)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    held = duckdb.connect(str(published), read_only=True)  # a session inside this very process too
    try:
        assert analyst.stdout is not None
        before = json.loads(analyst.stdout.readline())
        assert before["run_id"] == first.run_id and before["rows"] == before["listed_rows"] > 0
        assert _snapshot(held) == before

        # Control: the analyst's lock is real, so writing the published file in place would be refused.
        in_place = subprocess.run(
            [sys.executable, "-c", f"import duckdb; duckdb.connect({str(published)!r})"], capture_output=True, text=True
        )
        assert in_place.returncode != 0 and ("lock" in in_place.stderr or "Permission denied" in in_place.stderr)

        # New upstream data: a quarter of the customers leave the CLV input, so the run's customer_clv shrinks.
        with duckdb.connect(str(work / "warehouse.duckdb")) as con:
            removed = con.execute(
                "delete from intermediate.int_customer_purchases_summarised where hash(customer_id) % 4 = 0"
            ).fetchone()[0]
        assert removed > 0

        run = _materialize(["marts/customer_clv", "publish", "report"], resources)
        assert run.success, [e.message for e in run.all_events if e.is_step_failure]

        # The open sessions still read the old, complete snapshot ...
        assert _ask(analyst) == before
        assert _snapshot(held) == before
        if sys.platform.startswith("linux"):  # ... through the replaced (unlinked) inode
            fds = Path(f"/proc/{analyst.pid}/fd")
            assert any(os.readlink(fd).endswith("c360.duckdb (deleted)") for fd in fds.iterdir())
        # ... and every new connection sees the new file: another process, and open_published in this one.
        fresh = subprocess.run([sys.executable, "-c", FRESH_READER, str(published)],
                               capture_output=True, text=True, check=True)  # fmt: skip
        after = json.loads(fresh.stdout)
        assert after["run_id"] == run.run_id
        assert after["rows"] == after["listed_rows"] == before["rows"] - removed
        with open_published(published) as con:
            assert _snapshot(con) == after
        # The report of the same run read the new copy, although this process still holds the old one.
        page = report_path_for(work / "warehouse.duckdb").read_text(encoding="utf-8")
        assert f'<div class="v">{after["rows"]:,}</div><div class="l">customers scored</div>' in page
    finally:
        held.close()
        if analyst.stdin:
            analyst.stdin.close()
        analyst.wait(timeout=30)
    assert sorted(p.name for p in published.parent.iterdir()) == ["c360.duckdb", "report.html"]


def test_dbt_docs_generate_reads_the_published_copy(
    full_warehouse: Path, manifest: dict[str, Any], tmp_path: Path
) -> None:
    """`make docs`: the `docs` target attaches the published copy read-only; its catalog has every analyst table."""
    target = tmp_path / "docs"
    env = {**os.environ, "C360_PUBLISHED_PATH": str(published_path_for(full_warehouse))}
    dbt = Path(sys.executable).with_name("dbt")
    subprocess.run(
        [str(dbt), "docs", "generate", "--target", "docs", "--profiles-dir", ".", "--target-path", str(target),
         "--log-path", str(tmp_path / "logs"), "--static", "--quiet"],
        cwd=DBT_PROJECT_DIR, env=env, check=True, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    catalog = json.loads((target / "catalog.json").read_text(encoding="utf-8"))
    assert not catalog.get("errors")
    entries = {**catalog["nodes"], **catalog["sources"]}
    documented = {uid.rsplit(".", 1)[-1]: entry for uid, entry in entries.items()}
    for table in analyst_tables(manifest):
        assert table.name in documented, f"marts.{table.name} missing from the dbt docs catalog"
        assert set(table.columns) <= {c.lower() for c in documented[table.name]["columns"]}, table.name
    assert (target / "static_index.html").stat().st_size > 100_000
