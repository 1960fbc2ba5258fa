"""Loss-free ingestion: every landed row is loaded or rejected with its reason, nothing twice."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from orchestration.contracts import SOURCES
from orchestration.ingestion import load_source

HEADER = ",".join(SOURCES["products"].column_names)
GOOD = ["P1,Tea,food,10.00,4.00,CNY", "P2,Cup,home,25.50,9.10,CNY", 'P3,"Pot, large",home,80.00,30.00,CNY']


@pytest.fixture
def env(tmp_path: Path) -> tuple[duckdb.DuckDBPyConnection, Path]:
    landing = tmp_path / "landing"
    (landing / "products").mkdir(parents=True)
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    yield con, landing
    con.close()


def write(landing: Path, name: str, lines: list[str] | bytes, source: str = "products") -> Path:
    path = landing / source / name
    path.write_bytes(lines if isinstance(lines, bytes) else ("\n".join(lines) + "\n").encode())
    return path


def counts(con: duckdb.DuckDBPyConnection, source: str = "products") -> tuple[int, int]:
    raw = con.execute(f"select count(*) from raw.{source}").fetchone()[0]
    rej = con.execute("select count(*) from raw.rejected_rows where source = ?", [source]).fetchone()[0]
    return raw, rej


def test_good_file_loads_every_row_with_lineage(env):
    con, landing = env
    write(landing, "p1.csv", [HEADER, *GOOD])
    result = load_source(con, "products", landing)
    assert [(f.status, f.rows_landed, f.rows_loaded, f.rows_rejected) for f in result.files] == [
        ("loaded", 3, 3, 0)
    ]
    rows = con.execute("select product_id, list_price, _source_file, _source_row from raw.products order by 1")
    assert rows.fetchall() == [("P1", 10, "p1.csv", 2), ("P2", 25.5, "p1.csv", 3), ("P3", 80, "p1.csv", 4)]
    assert con.execute("select product_name from raw.products where product_id = 'P3'").fetchone()[0] == "Pot, large"


def test_malformed_lines_are_rejected_with_line_number_text_and_reason(env):
    con, landing = env
    lines = [
        HEADER,
        GOOD[0],
        "P9,Broken",  # too few fields (line 3)
        "",  # blank line: not a row
        "P8,Mug,home,abc,1.00,CNY",  # uncastable price (line 5)
        "P7,Bowl,home,3.00,1.00,CNY,surplus",  # too many fields (line 6)
        ",Nameless,home,3.00,1.00,CNY",  # empty required key (line 7)
        GOOD[1],  # line 8
    ]
    write(landing, "p1.csv", lines)
    (f,) = load_source(con, "products", landing).files
    assert (f.rows_landed, f.rows_loaded, f.rows_rejected) == (6, 2, 4)
    assert con.execute("select _source_row from raw.products order by 1").fetchall() == [(2,), (8,)]
    rejects = con.execute(
        "select source_row, error_type, reason, raw_text from raw.rejected_rows order by source_row"
    ).fetchall()
    assert [r[0] for r in rejects] == [3, 5, 6, 7]
    assert rejects[0][1] == "missing_columns" and rejects[0][3] == "P9,Broken"
    assert "list_price" in rejects[1][2] and "abc" in rejects[1][2]
    assert rejects[2][1] == "too_many_columns"
    assert "product_id is empty" in rejects[3][2]
    assert counts(con) == (2, 4)


def test_truncated_file_keeps_its_partial_last_line(env):
    con, landing = env
    write(landing, "p1.csv", ("\n".join([HEADER, *GOOD]) + "\nP4,Lamp,ho").encode())
    (f,) = load_source(con, "products", landing).files
    assert (f.rows_landed, f.rows_loaded, f.rows_rejected) == (4, 3, 1)
    assert con.execute("select raw_text from raw.rejected_rows").fetchone()[0] == "P4,Lamp,ho"


def test_wrong_encoding_rows_are_quarantined_not_lost(env):
    con, landing = env
    body = "\n".join([HEADER, "P1,Café,food,1.00,0.50,CNY", "P2,Tea,food,1.00,0.50,CNY"]) + "\n"
    write(landing, "p1.csv", body.encode("latin-1"))
    (f,) = load_source(con, "products", landing).files
    assert (f.rows_landed, f.rows_loaded, f.rows_rejected) == (2, 1, 1)
    assert "UTF-8" in con.execute("select reason from raw.rejected_rows").fetchone()[0]


def test_extra_and_missing_optional_columns(env):
    con, landing = env
    write(landing, "o1.csv", [
        "order_id,line_number,ordered_at,sales_channel,product_id,quantity,unit_price,currency,order_status,loyalty",
        "O1,1,2025-01-02 10:00:00,web,P1,2,10.00,CNY,completed,gold",
    ], source="shop_orders") if (landing / "shop_orders").mkdir() is None else None
    (f,) = load_source(con, "shop_orders", landing).files
    assert f.status == "loaded" and f.rows_loaded == 1
    assert "loyalty" in f.message and "account_email" in f.message
    assert con.execute("select account_email, quantity from raw.shop_orders").fetchone() == (None, 2)


def test_missing_required_column_rejects_the_whole_file(env):
    con, landing = env
    write(landing, "p1.csv", ["product_id,product_name,category,unit_cost,currency", "P1,Tea,food,4.00,CNY"])
    (f,) = load_source(con, "products", landing).files
    assert f.status == "rejected_file" and "list_price" in f.message
    assert (f.rows_landed, f.rows_rejected) == (1, 1)
    assert counts(con) == (0, 1)


def test_same_file_twice_is_loaded_once_and_corrected_redelivery_replaces(env):
    con, landing = env
    write(landing, "p1.csv", [HEADER, *GOOD[:2], "P3,Pot,home,oops,30.00,CNY"])
    load_source(con, "products", landing)
    assert counts(con) == (2, 1)
    assert load_source(con, "products", landing).files == []  # unchanged: nothing to do
    write(landing, "p1_copy.csv", [HEADER, *GOOD[:2], "P3,Pot,home,oops,30.00,CNY"])
    (dup,) = load_source(con, "products", landing).files
    assert dup.status == "duplicate" and dup.duplicate_of == "p1.csv"
    assert counts(con) == (2, 1)
    write(landing, "p1.csv", [HEADER, *GOOD])  # the corrected version
    (fixed,) = load_source(con, "products", landing).files
    assert fixed.status == "replaced" and fixed.rows_loaded == 3
    assert counts(con) == (3, 0)
    current = con.execute("select count(*) from raw.load_manifest where is_current and file_name = 'p1.csv'")
    assert current.fetchone()[0] == 1


def test_empty_file_and_unsafe_names(env):
    con, landing = env
    write(landing, "empty.csv", b"")
    write(landing, "x;drop table raw.products.csv", [HEADER, *GOOD])
    write(landing, "notes.txt", [HEADER, *GOOD])
    result = {f.file_name: f for f in load_source(con, "products", landing).files}
    assert result["empty.csv"].status == "empty"
    assert result["x;drop table raw.products.csv"].status == "refused"
    assert result["notes.txt"].status == "refused"
    assert counts(con) == (0, 0)
    assert load_source(con, "products", landing).files == []  # refused once, not every run
    (landing / "products" / "notes.txt").unlink()
    load_source(con, "products", landing)
    open_refusals = "select count(*) from raw.load_manifest where status = 'refused' and is_current"
    assert con.execute(open_refusals).fetchone()[0] == 1


def test_parquet_and_json_lines(env):
    con, landing = env
    table = pa.table({
        "product_id": ["P1", "P2", None], "product_name": ["a", "b", "c"], "category": ["x"] * 3,
        "list_price": [1.0, 2.0, 3.0], "unit_cost": [0.5, 1.0, 1.5], "currency": ["CNY"] * 3,
    })
    pq.write_table(table, landing / "products" / "p.parquet")
    rows = [dict(zip(SOURCES["products"].column_names, ["J1", "j", "x", "1.5", "1", "CNY"], strict=True)),
            dict(zip(SOURCES["products"].column_names, ["J2", "j", "x", "bad", "1", "CNY"], strict=True))]
    (landing / "products" / "p.jsonl").write_text(
        json.dumps(rows[0]) + "\n{not json\n" + json.dumps(rows[1]) + "\n"
    )
    result = {f.file_name: f for f in load_source(con, "products", landing).files}
    assert (result["p.parquet"].rows_loaded, result["p.parquet"].rows_rejected) == (2, 1)
    assert (result["p.jsonl"].rows_loaded, result["p.jsonl"].rows_rejected) == (1, 2)
    lines = con.execute(
        "select source_row from raw.rejected_rows where source_file = 'p.jsonl' order by 1"
    ).fetchall()
    assert lines == [(2,), (3,)]


def test_sql_looking_values_are_data(env):
    con, landing = env
    write(landing, "p1.csv", [HEADER, "P1,'); drop table raw.products; --,food,1.00,0.50,CNY"])
    load_source(con, "products", landing)
    assert con.execute("select product_name from raw.products").fetchone()[0].startswith("');")
