"""Erasure building blocks on small in-memory warehouses: normalisation, suppression at load,
text matching of rejected lines, export scrubbing, and the agreement of the loader's identifier
columns with the dbt identity sources they must mirror."""

import re
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from orchestration import erasure
from orchestration.contracts import ERASURE_REQUESTS, LANDING_SOURCES, SOURCES
from orchestration.ingestion.loader import ensure_raw_tables, load_source
from orchestration.settings import DBT_PROJECT_DIR

SHOP_HEADER = ",".join(SOURCES["shop_orders"].column_names)


@pytest.fixture
def con() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    ensure_raw_tables(con)
    return con


def tombstone(con: duckdb.DuckDBPyConnection, identifier_type: str, normalised: str) -> None:
    con.execute(
        f"insert into raw.erasure_tombstones select ?, {erasure.hash_sql('?', '?')}, 'R1', now()::timestamp",
        [identifier_type, identifier_type, normalised],
    )


@pytest.mark.parametrize(("identifier_type", "raw", "expected"), [
    ("email", "  Ann.Lee@Example.COM ", "ann.lee@example.com"),
    ("email", "not-an-email", None),
    ("phone", "+86 138 0013 8000", "+8613800138000"),
    ("phone", "0086-13800138000", "+8613800138000"),
    ("phone", "138-0013-8000", "+8613800138000"),
    ("phone", "8613800138000", "+8613800138000"),
    ("phone", "+1 415 555 0100", None),
    ("phone", "12345", None),
    ("device_id", "  ab-12 ", "ab-12"),
    ("member_id", "   ", None),
])
def test_normalisation_matches_the_staging_macros(identifier_type: str, raw: str, expected: str | None):
    # the cases of dbt_project/macros/_macros.yml (normalize_email / normalize_phone / normalize_id)
    value = duckdb.connect().execute(f"select {erasure.normalise_sql(identifier_type, '$v')}", {"v": raw}).fetchone()[0]
    assert value == expected


def test_open_ids_are_qualified_by_platform_like_identity_resolution():
    sql = f"select {erasure.normalise_sql('open_id', '$v', '$p')}"
    con = duckdb.connect()
    assert con.execute(sql, {"v": " oAbC ", "p": " WeChat"}).fetchone()[0] == "wechat:oAbC"
    assert con.execute(sql, {"v": "oAbC", "p": None}).fetchone()[0] == "unknown:oAbC"


def _identity_sources() -> dict[str, tuple[str, list[tuple[str, str]]]]:
    """model -> (record_id, [(identifier type, staging expression)]) parsed from the dbt macro."""
    text = (DBT_PROJECT_DIR / "macros" / "identity_sources.sql").read_text()
    body = text[text.index("macro identity_record_sources"):text.index("endmacro")]
    out = {}
    for block in re.findall(r"\{'model':.*?\]\]\}", body, flags=re.S):
        model = re.search(r"'model': '([a-z_]+)'", block).group(1)
        record_id = re.search(r"'record_id': '([a-z_]+)'", block).group(1)
        pairs = re.findall(r"\['([a-z_]+)', ([a-z_]+|'[a-z_]+')\]", block)
        out[model] = (record_id, [(t, e.strip("'")) for t, e in pairs])
    return out


def _staging_inputs(source: str) -> dict[str, tuple[str, str]]:
    """staging column -> (normalize macro, raw column) over the source's staging models."""
    found = {}
    for path in (DBT_PROJECT_DIR / "models" / "staging" / source).glob("*.sql"):
        for macro, raw, alias in re.findall(r"\{\{ normalize_(\w+)\('(\w+)'\) \}\} as (\w+)", path.read_text()):
            found[alias] = (macro, raw)
    return found


def test_the_loaders_identifier_columns_mirror_the_dbt_identity_sources():
    """A column identity resolution links on but the loader does not suppress would let an erased
    person back in with the next re-delivery: keep RAW_IDENTIFIERS in step with the macro."""
    sources = _identity_sources()
    assert len(sources) == 11
    kind = {"email": "email", "phone": "phone"}
    for model, (record_id, identifiers) in sources.items():
        source = re.match(r"^stg_(.+?)__", model).group(1)
        contract = SOURCES[source]
        # the erasure deletes raw rows by the header record's id: the first natural key column
        assert contract.natural_key[0] == record_id, model
        inputs = _staging_inputs(source)
        expected = set()
        for identifier_type, expression in identifiers:
            column = "open_id" if identifier_type == "open_id" else expression
            macro, raw = inputs[column]
            assert macro == kind.get(identifier_type, "id"), (model, identifier_type)
            expected.add((identifier_type, raw))
        assert set(erasure.identifier_columns(contract)) == expected, model
    assert set(erasure.RAW_IDENTIFIERS) == {re.match(r"^stg_(.+?)__", m).group(1) for m in sources}


def _landing(tmp_path: Path, source: str, name: str, lines: list[str], header: str) -> Path:
    folder = tmp_path / source
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text("\n".join([header, *lines]) + "\n")
    return tmp_path


def _shop_line(order: str, email: str, phone: str = "") -> str:
    return f"{order},1,2026-01-05 10:00:00,web,,{email},{phone},,P1,1,10.00,,,CNY,completed,"


def test_rows_of_erased_people_never_land_and_are_counted(con, tmp_path: Path):
    tombstone(con, "email", "ann@example.com")
    tombstone(con, "phone", "+8613800138000")
    landing = _landing(tmp_path, "shop_orders", "a.csv", [
        _shop_line("O1", " ANN@example.com"),        # the erased e-mail, as the shop wrote it
        _shop_line("O2", "bob@example.com"),
        _shop_line("O3", "cy@example.com", "138-0013-8000"),  # the erased phone, another spelling
        "O4,1,2026-01-05,web,,x@example.com,+86 138 0013 8000",  # too few fields: a structural reject
        "O5,1,2026-01-05 10:00:00,web,,dee@example.com,,,P1,two,10.00,,,CNY,completed,",  # invalid value
    ], SHOP_HEADER)
    result = load_source(con, "shop_orders", landing)
    [f] = result.files
    assert (f.status, f.rows_landed, f.rows_loaded, f.rows_rejected, f.rows_erased) == ("loaded", 5, 1, 1, 3)
    assert con.execute("select order_id from raw.shop_orders").fetchall() == [("O2",)]
    assert con.execute("select source_row from raw.rejected_rows").fetchall() == [(6,)]  # O5 stays rejected
    assert con.execute("select rows_erased from raw.load_manifest").fetchall() == [(3,)]


def test_a_file_with_only_erased_rows_is_marked_erased_not_loaded(con, tmp_path: Path):
    tombstone(con, "email", "ann@example.com")
    landing = _landing(tmp_path, "shop_orders", "b.csv", [_shop_line("O1", "ann@example.com")], SHOP_HEADER)
    [f] = load_source(con, "shop_orders", landing).files
    # GX validates 'loaded' files; an empty remainder is not a truncated delivery
    assert (f.status, f.rows_loaded, f.rows_erased) == ("erased", 0, 1)


def test_lines_of_a_file_rejected_whole_are_erased_too(con, tmp_path: Path):
    tombstone(con, "email", "ann@example.com")
    header = SHOP_HEADER.replace("order_id,", "")  # a required column missing: the whole file is rejected
    landing = _landing(tmp_path, "shop_orders", "d.csv", [
        "1,2026-01-05 10:00:00,web,,Ann@Example.com,,,P1,1,10.00,,,CNY,completed,",
        "1,2026-01-05 10:00:00,web,,bob@example.com,,,P1,1,10.00,,,CNY,completed,",
    ], header)
    [f] = load_source(con, "shop_orders", landing).files
    assert (f.status, f.rows_landed, f.rows_rejected, f.rows_erased) == ("rejected_file", 2, 1, 1)
    assert "bob@example.com" in con.execute("select raw_text from raw.rejected_rows").fetchone()[0]


def test_open_ids_are_suppressed_qualified_or_bare(con, tmp_path: Path):
    tombstone(con, "open_id", "wechat:oQualified1")
    tombstone(con, erasure.OPEN_ID_VALUE, "oBare12345")  # a request that named no platform
    landing = _landing(tmp_path, "social_interactions", "s.csv", [
        "S1,2026-01-05 10:00:00,WeChat,oQualified1,,like,",
        "S2,2026-01-05 10:00:00,weibo,oBare12345,,like,",
        "S3,2026-01-05 10:00:00,weibo,oQualified1,,like,",  # same id on another platform: someone else
    ], ",".join(SOURCES["social_interactions"].column_names))
    [f] = load_source(con, "social_interactions", landing).files
    assert (f.rows_loaded, f.rows_erased) == (1, 2)
    assert con.execute("select interaction_id from raw.social_interactions").fetchall() == [("S3",)]


def test_suppression_is_free_without_tombstones(con, tmp_path: Path):
    landing = _landing(tmp_path, "shop_orders", "c.csv", [_shop_line("O1", "ann@example.com")], SHOP_HEADER)
    [f] = load_source(con, "shop_orders", landing).files
    assert (f.status, f.rows_loaded, f.rows_erased) == ("loaded", 1, 0)


def test_rejected_text_is_matched_by_identifier_shaped_tokens(con):
    tombstone(con, "email", "ann@example.com")
    tombstone(con, "phone", "+8613800138000")
    tombstone(con, "device_id", "dev-0001-abc")
    tombstone(con, erasure.OPEN_ID_VALUE, "oXyZ123")
    con.execute("create table t (k int, txt varchar)")
    con.execute("insert into t values (1, 'E1,2026-01-01 00:00:00,Ann@Example.com'), (2, 'x,+86 138 0013 8000,y'), "
                "(3, '{\"device_id\":\"dev-0001-abc\",\"q\":\"1\"}'), (4, 'S1,wechat,oXyZ123'), "
                "(5, 'E2,2026-01-01 00:00:00,bob@example.com,13900000001'), (6, null)")
    hits = con.execute(f"select * from ({erasure.tombstoned_text_sql('t', 'k', 'txt')}) order by 1").fetchall()
    assert hits == [(1,), (2,), (3,), (4,)]


def test_exports_lose_the_rows_of_erased_people_and_only_those(con, tmp_path: Path):
    tombstone(con, "email", "ann@example.com")
    tombstone(con, erasure.CUSTOMER_ID, "cus_0001")
    exports = tmp_path / "exports"
    (exports / "a").mkdir(parents=True)
    frame = pd.DataFrame({"customer_id": ["cus_0001", "cus_0002", "cus_0003"],
                          "email": ["x@example.com", "bob@example.com", "ANN@example.com"]})
    frame.to_csv(exports / "a" / "audience.csv", index=False)
    frame.to_parquet(exports / "audience.parquet", index=False)
    (exports / "untouched.csv").write_text("customer_id\ncus_0002\n")
    removed = erasure.scrub_exports(con, exports)
    assert removed == {"a/audience.csv": 2, "audience.parquet": 2}
    assert pd.read_csv(exports / "a" / "audience.csv")["customer_id"].tolist() == ["cus_0002"]
    assert pd.read_parquet(exports / "audience.parquet")["customer_id"].tolist() == ["cus_0002"]
    assert (exports / "untouched.csv").read_text() == "customer_id\ncus_0002\n"


def test_documents_quoting_an_erased_value_are_removed(tmp_path: Path):
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "quotes.html").write_text("<td>ANN@example.com</td>")
    (tmp_path / "docs" / "clean.html").write_text("<td>bob@example.com</td>")
    removed = erasure.scrub_documents(tmp_path / "docs", {"ann@example.com"})
    assert [p.name for p in removed] == ["quotes.html"]
    assert (tmp_path / "docs" / "clean.html").exists()


def test_the_erasure_request_contract_is_a_landing_source_but_not_a_channel():
    assert LANDING_SOURCES["erasure_requests"] is ERASURE_REQUESTS
    assert "erasure_requests" not in SOURCES  # no staging, no GX suite, not simulated by default
    assert ERASURE_REQUESTS.required_columns == ["request_id", "requested_at", "identifier_type", "identifier_value"]


def test_simulated_requests_name_one_identifier_of_a_person_in_a_spelling_to_normalise(tmp_path: Path):
    from orchestration.sample_data.simulator import SimulationConfig, simulate

    simulate(SimulationConfig(n_customers=200, seed=3, erasure_requests=3), tmp_path)
    truth = pd.read_parquet(tmp_path / "ground_truth" / "erasure_requests.parquet")
    assert len(truth) == 3 and truth.person_id.is_unique
    landed = pd.read_csv(tmp_path / "landing" / "erasure_requests" / "erasure_requests_part0000.csv", dtype=str)
    assert landed.request_id.tolist() == truth.request_id.tolist()
    for row in truth.itertuples():
        normalised = duckdb.connect().execute(f"select {erasure.normalise_sql(row.identifier_type, '$v')}",
                                              {"v": row.requested_value}).fetchone()[0]
        assert normalised == row.identifier_value
    identifiers = pd.read_parquet(tmp_path / "ground_truth" / "identifiers.parquet")
    named = identifiers.merge(truth, on=["identifier_type", "identifier_value"])
    assert (named.person_id_x == named.person_id_y).all() and not named.is_shared.any()
