"""The simulator's landing files against its own ground truth (and against the contracts).

The files are parsed here with the standard-library ``csv`` module and checked with
independent, strict type rules and an independent implementation of the identifier
normalisation, so these tests catch a writer or a ground truth that drifts from the spec.
"""

from __future__ import annotations

import csv
import filecmp
import io
import math
import re
from collections import Counter
from dataclasses import replace
from datetime import date, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from orchestration.contracts import SOURCES
from orchestration.sample_data.population import make_clocks
from orchestration.sample_data.simulator import SimulationConfig, SimulationSummary, simulate

# small, several chunks (so late rows cross files), imperfection rates raised so that every
# kind of damage occurs in a run that takes about a second
CONFIG = SimulationConfig(
    n_customers=1_500,
    seed=7,
    chunk_size=600,
    malformed_rate=0.004,
    duplicate_rate=0.01,
    late_rate=0.02,
)
PERSON_SOURCES = [s for s in SOURCES if s not in ("products", "campaigns")]
ORDER_SOURCES = ("shop_orders", "pos_transactions")
EVENT_SOURCES = (
    "web_events",
    "app_events",
    "email_engagement",
    "sms_engagement",
    "push_engagement",
    "social_interactions",
)
#: the timestamp that places each record in time
EVENT_TIME = {
    "shop_orders": "ordered_at",
    "pos_transactions": "transacted_at",
    "web_events": "occurred_at",
    "app_events": "occurred_at",
    "email_engagement": "occurred_at",
    "sms_engagement": "occurred_at",
    "push_engagement": "occurred_at",
    "social_interactions": "occurred_at",
    "crm_profiles": "updated_at",
    "service_tickets": "opened_at",
    "campaign_touches": "touched_at",
    "campaigns": "started_at",
}
IDENTIFIER_COLUMNS = {
    "email": "email",
    "account_email": "email",
    "phone": "phone",
    "device_id": "device_id",
    "cookie_id": "cookie_id",
    "account_id": "account_id",
    "loyalty_card_number": "loyalty_card_number",
    "open_id": "open_id",
    "member_id": "member_id",
}
JUNK = {"test@test.com", "unknown", "+8600000000000", "+8613800000000"}


# ----------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, SimulationSummary]:
    out = tmp_path_factory.mktemp("sim")
    return out, simulate(CONFIG, out)


@pytest.fixture(scope="module")
def out(run: tuple[Path, SimulationSummary]) -> Path:
    return run[0]


@pytest.fixture(scope="module")
def truth(out: Path) -> dict[str, pd.DataFrame]:
    gt = out / "ground_truth"
    return {p.stem: pd.read_parquet(p) for p in gt.glob("*.parquet")}


def _is_int(v: str) -> bool:
    return re.fullmatch(r"-?\d+", v) is not None


def _is_ts(v: str) -> bool:
    if re.fullmatch(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}", v) is None:
        return False
    try:
        datetime.strptime(v, "%Y-%m-%d %H:%M:%S")
    except ValueError:
        return False
    return True


def _is_date(v: str) -> bool:
    try:
        datetime.strptime(v, "%Y-%m-%d")
    except ValueError:
        return False
    return re.fullmatch(r"\d{4}-\d{2}-\d{2}", v) is not None


CHECKS = {
    "INTEGER": _is_int,
    "TIMESTAMP": _is_ts,
    "DATE": _is_date,
    "DECIMAL(18,2)": lambda v: re.fullmatch(r"-?\d+\.\d{2}", v) is not None,
    "BOOLEAN": lambda v: v in ("true", "false"),
    "DOUBLE": lambda v: re.fullmatch(r"-?\d+(\.\d+)?", v) is not None,
    "VARCHAR": lambda v: True,
}


def _valid(source: str, fields: list[str]) -> bool:
    """Strict contract check of one parsed line: field count, required values, castable types."""
    contract = SOURCES[source]
    if len(fields) != len(contract.columns):
        return False
    for col, value in zip(contract.columns, fields, strict=True):
        if value == "":
            if col.required:
                return False
            continue
        if not CHECKS[col.type](value):
            return False
    return True


@pytest.fixture(scope="module")
def parsed(out: Path) -> dict[str, dict[str, list[list[str]]]]:
    """source -> file name -> parsed data lines (header excluded)."""
    result: dict[str, dict[str, list[list[str]]]] = {}
    for source in SOURCES:
        result[source] = {}
        for path in sorted((out / "landing" / source).glob("*.csv")):
            with path.open(newline="", encoding="utf-8") as f:
                rows = list(csv.reader(f))
            result[source][path.name] = rows[1:]
    return result


def _key(source: str, fields: list[str]) -> str:
    names = SOURCES[source].column_names
    return "|".join(fields[names.index(k)] for k in SOURCES[source].natural_key)


@pytest.fixture(scope="module")
def valid_rows(parsed: dict[str, dict[str, list[list[str]]]]) -> dict[str, pd.DataFrame]:
    """Valid lines per source as DataFrames (with file name and natural key)."""
    frames = {}
    for source, files in parsed.items():
        names = SOURCES[source].column_names
        rows, keys, fnames = [], [], []
        for fname, lines in files.items():
            for fields in lines:
                if _valid(source, fields):
                    rows.append(fields)
                    keys.append(_key(source, fields))
                    fnames.append(fname)
        df = pd.DataFrame(rows, columns=names, dtype=object)
        df["_key"] = keys
        df["_file"] = fnames
        frames[source] = df
    return frames


# ----------------------------------------------------------------------------- determinism


def _all_files(root: Path) -> list[Path]:
    return sorted(p.relative_to(root) for p in root.rglob("*") if p.is_file())


def test_same_seed_gives_identical_bytes(out: Path, tmp_path: Path) -> None:
    simulate(CONFIG, tmp_path)
    files = _all_files(out)
    assert files == _all_files(tmp_path)
    assert any(f.suffix == ".parquet" for f in files)
    for rel in files:
        assert filecmp.cmp(out / rel, tmp_path / rel, shallow=False), rel


def test_parallel_workers_give_identical_bytes(out: Path, tmp_path: Path) -> None:
    simulate(CONFIG, tmp_path, workers=2)
    for rel in _all_files(out):
        assert filecmp.cmp(out / rel, tmp_path / rel, shallow=False), rel


def test_different_seed_differs(out: Path, tmp_path: Path) -> None:
    simulate(replace(CONFIG, seed=8), tmp_path)
    for source in ("shop_orders", "web_events", "crm_profiles"):
        name = f"{source}/{source}_part0000.csv"
        assert not filecmp.cmp(out / "landing" / name, tmp_path / "landing" / name, shallow=False)


def test_rerun_into_same_directory_converges(tmp_path: Path) -> None:
    """A rerun with fewer chunks must not leave stale part files of the previous run behind."""
    simulate(replace(CONFIG, n_customers=900, chunk_size=300), tmp_path)
    simulate(replace(CONFIG, n_customers=900, chunk_size=900), tmp_path)
    files = pd.read_parquet(tmp_path / "ground_truth" / "files.parquet")
    on_disk = {p.name for p in (tmp_path / "landing").rglob("*.csv")}
    assert on_disk == set(files["file_name"])


# ----------------------------------------------------------------------------- format


def test_headers_are_the_contract(out: Path) -> None:
    for source, contract in SOURCES.items():
        paths = sorted((out / "landing" / source).glob(f"{source}_part*.csv"))
        assert paths, source
        for path in paths:
            with path.open("rb") as f:
                assert f.readline() == (",".join(contract.column_names) + "\n").encode()


def test_file_layout(run: tuple[Path, SimulationSummary]) -> None:
    _, summary = run
    n_chunks = math.ceil(CONFIG.n_customers / CONFIG.chunk_size)
    for source in SOURCES:
        names = [p.name for p in summary.files[source]]
        if source in ("products", "campaigns"):
            assert names == [f"{source}_part0000.csv"]
        else:  # one file per chunk plus the trailing file carrying the last chunk's late rows
            assert names == [f"{source}_part{i:04d}.csv" for i in range(n_chunks + 1)]
        assert all(p.exists() for p in summary.files[source])


def test_lines_are_plain_utf8_with_lf_and_no_embedded_newlines(out: Path) -> None:
    for path in (out / "landing").rglob("*.csv"):
        data = path.read_bytes()
        data.decode("utf-8")
        assert b"\r" not in data
        assert data.endswith(b"\n")
        with path.open(newline="", encoding="utf-8") as f:
            records = sum(1 for _ in csv.reader(f))
        assert records == data.count(b"\n"), path.name  # one record per physical line


def test_quoting_only_when_needed(out: Path) -> None:
    """Every line is exactly what a minimal-quoting RFC-4180 writer produces for its fields."""
    quoted = 0
    for path in (out / "landing").rglob("*.csv"):
        for line in path.read_text(encoding="utf-8").splitlines():
            buf = io.StringIO()
            csv.writer(buf, quoting=csv.QUOTE_MINIMAL, lineterminator="").writerow(next(csv.reader([line])))
            assert buf.getvalue() == line, line
            quoted += '"' in line
    assert quoted > 0  # product names like 'Face Mask 面膜, 2-pack' need quotes


# ----------------------------------------------------------------------------- counts


def test_line_counts_match_files_truth(out: Path, truth: dict[str, pd.DataFrame]) -> None:
    files = truth["files"].set_index("file_name")
    on_disk = {p.name: p for p in (out / "landing").rglob("*.csv")}
    assert set(files.index) == set(on_disk)
    for name, path in on_disk.items():
        assert path.read_bytes().count(b"\n") - 1 == files.loc[name, "data_rows"], name


def test_summary_matches_files_truth(
    run: tuple[Path, SimulationSummary], truth: dict[str, pd.DataFrame]
) -> None:
    _, summary = run
    per_source = truth["files"].groupby("source")[["data_rows", "malformed_rows", "duplicate_rows"]].sum()
    for source in SOURCES:
        assert summary.rows[source] == per_source.loc[source, "data_rows"]
        assert summary.malformed[source] == per_source.loc[source, "malformed_rows"]
        assert summary.duplicates[source] == per_source.loc[source, "duplicate_rows"]
    assert summary.persons == CONFIG.n_customers == len(truth["persons"])


def test_malformed_lines_are_exactly_the_invalid_ones(
    parsed: dict[str, dict[str, list[list[str]]]], truth: dict[str, pd.DataFrame]
) -> None:
    files = truth["files"].set_index("file_name")
    bad = truth["malformed_rows"]
    total = 0
    for source, per_file in parsed.items():
        for fname, lines in per_file.items():
            invalid = [i + 2 for i, fields in enumerate(lines) if not _valid(source, fields)]
            assert len(invalid) == files.loc[fname, "malformed_rows"], fname
            assert invalid == sorted(bad.loc[bad["file_name"] == fname, "line_number"]), fname
            total += len(invalid)
    assert total > 0
    assert set(bad["kind"]) == {"too_few_fields", "too_many_fields", "bad_value", "empty_key"}


def test_malformed_share_within_binomial_expectation(truth: dict[str, pd.DataFrame]) -> None:
    files = truth["files"]
    own = files[files["late_rows"] < files["data_rows"]]  # files with rows of their own chunk
    n = int((own["data_rows"] - own["malformed_rows"] - own["late_rows"]).sum())
    k = int(own["malformed_rows"].sum())
    mean, sd = n * CONFIG.malformed_rate, math.sqrt(n * CONFIG.malformed_rate)
    assert abs(k - mean) < 5 * sd + 2, (k, mean)
    for row in own.itertuples():
        m = row.data_rows - row.malformed_rows - row.late_rows
        assert row.malformed_rows <= m * CONFIG.malformed_rate + 6 * math.sqrt(m * CONFIG.malformed_rate) + 3


def test_duplicates_are_exact_copies(out: Path, truth: dict[str, pd.DataFrame]) -> None:
    files = truth["files"].set_index("file_name")
    seen_dups = 0
    for source in SOURCES:
        for path in (out / "landing" / source).glob("*.csv"):
            lines = path.read_text(encoding="utf-8").splitlines()[1:]
            repeats = sum(c - 1 for c in Counter(lines).values() if c > 1)
            assert repeats == files.loc[path.name, "duplicate_rows"], path.name
            if source not in ORDER_SOURCES + EVENT_SOURCES:
                assert repeats == 0
            seen_dups += repeats
    total = int(truth["files"]["data_rows"].sum())
    assert 0.3 * CONFIG.duplicate_rate * total < seen_dups < 2 * CONFIG.duplicate_rate * total


def test_late_rows_sit_at_the_end_of_the_next_file(
    parsed: dict[str, dict[str, list[list[str]]]], truth: dict[str, pd.DataFrame]
) -> None:
    files = truth["files"].set_index("file_name")
    records = truth["records"].set_index(["source", "record_key"])
    late_total = 0
    for source in PERSON_SOURCES:
        for name, lines in parsed[source].items():
            late = int(files.loc[name, "late_rows"])
            late_total += late
            if not late:
                continue
            tail = [row for row in lines[-late:]]
            assert all(_valid(source, row) for row in tail)
            rec = records.loc[[(source, _key(source, row)) for row in tail]]
            assert (rec["file_name"] == name).all()
            # they are rows of the previous chunk's persons
            prev_chunk = int(name.split("_part")[1][:4]) - 1
            lo, hi = prev_chunk * CONFIG.chunk_size, (prev_chunk + 1) * CONFIG.chunk_size
            assert rec["person_id"].between(lo + 1, hi).all(), name
    total = int(truth["files"]["data_rows"].sum())
    assert 0.3 * CONFIG.late_rate * total < late_total < 2 * CONFIG.late_rate * total


# ----------------------------------------------------------------------------- records


def test_every_valid_row_is_in_records_with_a_person(
    valid_rows: dict[str, pd.DataFrame], truth: dict[str, pd.DataFrame]
) -> None:
    records = truth["records"]
    persons = set(truth["persons"]["person_id"])
    assert records["person_id"].isin(persons).all()
    assert not records.duplicated(["source", "record_key"]).any()
    for source in PERSON_SOURCES:
        rec = records[records["source"] == source]
        rows = valid_rows[source]
        assert set(rows["_key"]) == set(rec["record_key"]), source
        # the record says in which file the row landed
        landed = rows.drop_duplicates("_key").set_index("_key")["_file"]
        assert (landed.loc[rec["record_key"]].to_numpy() == rec["file_name"].to_numpy()).all(), source
    malformed_keys = set(truth["malformed_rows"]["record_key"])
    assert not malformed_keys & set(records["record_key"])


def test_observed_order_counts_match_the_landing_data(
    valid_rows: dict[str, pd.DataFrame], truth: dict[str, pd.DataFrame]
) -> None:
    rec = truth["records"].set_index(["source", "record_key"])["person_id"]
    shop = valid_rows["shop_orders"].drop_duplicates("_key")
    shop_person = rec.loc[list(zip(["shop_orders"] * len(shop), shop["_key"], strict=True))].to_numpy()
    pos = valid_rows["pos_transactions"].drop_duplicates("_key")
    pos_person = rec.loc[list(zip(["pos_transactions"] * len(pos), pos["_key"], strict=True))].to_numpy()
    per_order = pd.concat(
        [
            pd.DataFrame({"order": shop["order_id"].to_numpy(), "person": shop_person}),
            pd.DataFrame({"order": pos["transaction_id"].to_numpy(), "person": pos_person})[
                pos["transaction_type"].to_numpy() == "sale"
            ],
        ]
    ).drop_duplicates("order")
    counts = per_order.groupby("person").size()
    persons = truth["persons"].set_index("person_id")
    expected = persons["orders_observed"]
    assert (counts.reindex(expected.index, fill_value=0) == expected).all()
    assert set(truth["orders"]["order_id"]) == set(per_order["order"])


# ----------------------------------------------------------------------------- identifiers


def _norm_email(v: str) -> str:
    return v.strip().lower()


def _norm_phone(v: str) -> str | None:
    d = re.sub(r"\D", "", v)
    if len(d) == 15 and d.startswith("0086"):
        d = d[4:]
    elif len(d) == 13 and d.startswith("86"):
        d = d[2:]
    return "+86" + d if len(d) == 11 else None


def _observed_identifiers(
    valid_rows: dict[str, pd.DataFrame], truth: dict[str, pd.DataFrame]
) -> pd.DataFrame:
    """(type, normalised value, person) for every identifier value written in a valid row."""
    rec = truth["records"]
    parts = []
    for source in PERSON_SOURCES:
        rows = valid_rows[source]
        person = rows["_key"].map(rec[rec["source"] == source].set_index("record_key")["person_id"])
        for col in SOURCES[source].column_names:
            if col not in IDENTIFIER_COLUMNS:
                continue
            kind = IDENTIFIER_COLUMNS[col]
            raw = rows[col]
            mask = raw != ""
            if kind == "email":
                norm = raw[mask].map(_norm_email)
            elif kind == "phone":
                norm = raw[mask].map(_norm_phone)
            else:
                norm = raw[mask]
            parts.append(
                pd.DataFrame({"identifier_type": kind, "identifier_value": norm, "person_id": person[mask]})
            )
    return pd.concat(parts).drop_duplicates()


def test_raw_identifiers_normalise_to_the_truth(
    valid_rows: dict[str, pd.DataFrame], truth: dict[str, pd.DataFrame]
) -> None:
    observed = _observed_identifiers(valid_rows, truth)
    assert observed["identifier_value"].notna().all()  # every written phone is a usable mobile
    ids = truth["identifiers"]
    key = ["identifier_type", "identifier_value", "person_id"]
    merged = observed.merge(ids[key], on=key, how="outer", indicator=True)
    # exactly the values the files carry, attributed to exactly the right persons
    assert (merged["_merge"] == "both").all(), merged[merged["_merge"] != "both"].head()
    assert set(ids["identifier_type"]) == set(IDENTIFIER_COLUMNS.values())


def test_identifiers_are_normalised(truth: dict[str, pd.DataFrame]) -> None:
    ids = truth["identifiers"]
    emails = ids.loc[ids["identifier_type"] == "email", "identifier_value"]
    assert (emails == emails.str.strip().str.lower()).all()
    phones = ids.loc[ids["identifier_type"] == "phone", "identifier_value"]
    assert phones.str.fullmatch(r"\+86\d{11}").all()


def test_raw_identifiers_are_noisy(valid_rows: dict[str, pd.DataFrame]) -> None:
    """The files carry the mess the pipeline must clean: case, whitespace, four phone spellings."""
    emails = pd.concat([valid_rows["shop_orders"]["account_email"], valid_rows["crm_profiles"]["email"]])
    emails = emails[emails != ""]
    assert (emails != emails.str.lower()).any()
    assert (emails != emails.str.strip()).any()
    phones = pd.concat([valid_rows[s]["phone"] for s in ("shop_orders", "crm_profiles", "service_tickets")])
    phones = phones[phones != ""]
    assert phones.str.fullmatch(r"\+86 1\d{2} \d{4} \d{4}").any()
    assert phones.str.fullmatch(r"0086-1\d{10}").any()
    assert phones.str.fullmatch(r"1\d{2}-\d{4}-\d{4}").any()
    assert phones.str.fullmatch(r"1\d{10}").any()


def test_junk_values_are_flagged_and_only_they(truth: dict[str, pd.DataFrame]) -> None:
    ids = truth["identifiers"]
    assert set(ids.loc[ids["is_junk"], "identifier_value"]) == JUNK
    assert not ids.loc[~ids["is_junk"], "identifier_value"].isin(JUNK).any()
    assert not (ids["is_junk"] & ids["is_shared"]).any()


def test_household_emails_are_shared_by_household_members(truth: dict[str, pd.DataFrame]) -> None:
    ids = truth["identifiers"]
    persons = truth["persons"].set_index("person_id")
    shared = ids[ids["is_shared"] & (ids["identifier_type"] == "email")]
    assert shared["identifier_value"].nunique() >= 5
    for _, group in shared.groupby("identifier_value"):
        assert group["person_id"].nunique() > 1
        assert persons.loc[group["person_id"], "household_id"].nunique() == 1


def test_store_tablets_are_shared_by_many_persons(truth: dict[str, pd.DataFrame]) -> None:
    ids = truth["identifiers"]
    devices = ids[ids["is_shared"] & (ids["identifier_type"] == "device_id")]
    per_device = devices.groupby("identifier_value")["person_id"].nunique()
    assert 1 <= len(per_device) <= 10
    assert per_device.max() >= 5


def test_values_not_shared_or_junk_belong_to_one_person(truth: dict[str, pd.DataFrame]) -> None:
    ids = truth["identifiers"]
    real = ids[~ids["is_shared"] & ~ids["is_junk"]]
    assert not real.duplicated(["identifier_type", "identifier_value"]).any()


def test_people_appear_under_several_identifiers(truth: dict[str, pd.DataFrame]) -> None:
    ids = truth["identifiers"]
    real = ids[~ids["is_junk"]]
    per_person = real.groupby(["person_id", "identifier_type"]).size().unstack(fill_value=0)
    assert (per_person["email"] >= 2).sum() > 20  # second e-mail
    assert (per_person["cookie_id"] >= 2).sum() > 50  # cookie churn
    assert (per_person["device_id"] >= 2).sum() > 10  # new device after a reset


# ----------------------------------------------------------------------------- time


def test_no_row_outside_the_date_range(valid_rows: dict[str, pd.DataFrame]) -> None:
    lo = CONFIG.start_date.isoformat() + " 00:00:00"
    hi = CONFIG.observation_end.isoformat() + " 23:59:59"
    for source, column in EVENT_TIME.items():
        ts = valid_rows[source][column]
        assert len(ts) > 0, source
        assert ts.min() >= lo and ts.max() <= hi, source


def test_holdout_orders_are_after_observation_end_and_never_landed(
    valid_rows: dict[str, pd.DataFrame], truth: dict[str, pd.DataFrame]
) -> None:
    hold = truth["holdout_orders"]
    assert len(hold) > 100
    assert (
        hold["ordered_at"] > pd.Timestamp(CONFIG.observation_end) + pd.Timedelta(days=1, seconds=-1)
    ).all()
    assert (hold["ordered_at"] < pd.Timestamp(CONFIG.holdout_end) + pd.Timedelta(days=1)).all()
    landed = set(valid_rows["shop_orders"]["order_id"]) | set(
        valid_rows["pos_transactions"]["transaction_id"]
    )
    assert not landed & set(hold["order_id"])
    persons = truth["persons"].set_index("person_id")
    assert (
        hold.groupby("person_id").size() == persons["orders_holdout"][persons["orders_holdout"] > 0]
    ).all()


def test_seasonal_peak_on_singles_day(truth: dict[str, pd.DataFrame]) -> None:
    orders = truth["orders"]
    local_day = (orders["ordered_at"] + pd.Timedelta(hours=8)).dt.date
    per_day = local_day.value_counts()
    peak = per_day.reindex([date(2024, 11, 11), date(2025, 11, 11)], fill_value=0).mean()
    october = per_day[[d for d in per_day.index if d.month == 10]].mean()
    assert peak > 3 * october


# ----------------------------------------------------------------------------- behaviour


def test_persona_purchase_rates_are_ordered(truth: dict[str, pd.DataFrame]) -> None:
    persons = truth["persons"]
    lam = persons.groupby("persona")["lambda_per_week"].mean()
    assert lam["high_value_loyalist"] > lam["bargain_hunter"] > lam["occasional_gift_buyer"]
    assert lam["new_app_first"] > lam["occasional_gift_buyer"]
    assert lam["prospect"] == 0
    per_week = persons["orders_observed"] / ((CONFIG.observation_end - CONFIG.start_date).days / 7)
    observed = per_week.groupby(persons["persona"]).mean()
    assert observed["high_value_loyalist"] > observed["bargain_hunter"] > observed["occasional_gift_buyer"]
    assert observed["prospect"] == 0
    value = persons.groupby("persona")["mean_order_value"].mean()
    assert value["occasional_gift_buyer"] > value["bargain_hunter"]
    dropout = persons.groupby("persona")["p_dropout"].mean()
    assert dropout["lapsing_customer"] > 2 * dropout["high_value_loyalist"]


def test_purchase_process_is_exact_in_operational_time(truth: dict[str, pd.DataFrame]) -> None:
    """Repeat purchases of survivors are Poisson(λ · operational weeks): mean ratio close to 1.

    Survivors acquired in the history are followed from acquisition to holdout_end; induced
    (campaign) orders are excluded because they sit outside the BG/NBD process.
    """
    persons = truth["persons"]
    start = pd.Timestamp(CONFIG.start_date)
    alive = persons[~persons["is_prospect"] & persons["died_at"].isna() & (persons["acquired_at"] >= start)]
    orders = pd.concat(
        [
            truth["orders"].loc[
                truth["orders"]["induced_by_campaign_id"].isna(), ["person_id", "ordered_at"]
            ],
            truth["holdout_orders"][["person_id", "ordered_at"]],
        ]
    )
    counts = orders.groupby("person_id").size().reindex(alive["person_id"], fill_value=0).to_numpy() - 1
    clocks = make_clocks(CONFIG.start_date, CONFIG.holdout_end)
    names = list(truth["personas"]["name"])
    end = (pd.Timestamp(CONFIG.holdout_end) + pd.Timedelta(days=1)).timestamp() - 1
    expected = np.empty(len(alive))
    acq = ((alive["acquired_at"] - pd.Timestamp(0)) // pd.Timedelta(seconds=1)).to_numpy()
    for i, (persona, lam, t0) in enumerate(zip(alive["persona"], alive["lambda_per_week"], acq, strict=True)):
        clock = clocks[names.index(persona)]
        expected[i] = lam * (clock.to_op(np.array([end]))[0] - clock.to_op(np.array([t0]))[0])
    assert len(alive) > 100
    ratio = counts.sum() / expected.sum()
    assert 0.9 < ratio < 1.1, ratio


def test_campaign_truth_and_control_groups(
    valid_rows: dict[str, pd.DataFrame], truth: dict[str, pd.DataFrame]
) -> None:
    camps = truth["campaigns"]
    assert 30 <= len(camps) <= 60
    person_level = camps["channel"].isin(["email", "sms", "push", "social"])
    assert camps.loc[person_level, "true_uplift"].between(0, 1).all()
    assert camps.loc[~person_level, "true_uplift"].isna().all()
    assert (camps.loc[person_level, "true_uplift"] > 0).sum() > 10
    touches = valid_rows["campaign_touches"].drop_duplicates("_key")
    control_share = (touches["is_control"] == "true").mean()
    assert 0.07 < control_share < 0.13
    # the randomised control recovers the true uplift: pooled treated-minus-control difference
    # agrees with the pooled truth within sampling error
    c = camps[camps["n_control"] > 0]
    rt, rc = c["conversion_rate_treated"], c["conversion_rate_control"]
    se2 = rt * (1 - rt) / c["n_treated"] + rc * (1 - rc) / c["n_control"]
    w = c["n_targeted"] / c["n_targeted"].sum()
    estimate, true = (w * (rt - rc)).sum(), (w * c["true_uplift"]).sum()
    assert abs(estimate - true) < 4 * math.sqrt((w**2 * se2).sum()) + 1e-3, (estimate, true)
    assert true > 0.005
    n_touch = camps.groupby("campaign_id")["n_targeted"].sum()
    landed = touches.groupby("campaign_id").size()
    assert (landed.reindex(n_touch.index, fill_value=0) == n_touch).all()


def test_crm_redelivers_some_members_with_changes(valid_rows: dict[str, pd.DataFrame]) -> None:
    crm = valid_rows["crm_profiles"].drop_duplicates("_key")
    per_member = crm.groupby("member_id").size()
    share = (per_member > 1).mean()
    assert 0.05 < share < 0.25
    again = crm[crm["member_id"].isin(per_member[per_member > 1].index)].sort_values("updated_at")
    changed = again.groupby("member_id").agg(lambda s: s.nunique() > 1)
    cols = [
        "email",
        "phone",
        "city",
        "income_band",
        "interests",
        "consent_email",
        "consent_sms",
        "consent_push",
    ]
    assert changed[cols].any(axis=1).mean() > 0.8


def test_unhappy_persons_churn_more(truth: dict[str, pd.DataFrame]) -> None:
    persons = truth["persons"]
    buyers = persons[~persons["is_prospect"]]
    low = buyers["happiness"] < buyers["happiness"].median()
    assert buyers.loc[low, "p_dropout"].mean() > buyers.loc[~low, "p_dropout"].mean()


def test_default_config_is_fast(tmp_path: Path) -> None:
    summary = simulate(SimulationConfig(), tmp_path)
    assert summary.seconds < 30
    assert summary.persons == 5_000
    assert sum(summary.rows.values()) > 100_000
