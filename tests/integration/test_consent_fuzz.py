"""Consent fuzz: random consent, unsubscribe, suppression and erasure states, real pipeline, zero violations.

A small simulation's landing files are perturbed with a seeded random generator, then
ingested and built by the real assets (ingestion, erasure, dbt, audiences) with
``dg.materialize``. Every exported row is then judged by an ORACLE that reads the landing
files itself (its own normalisation, its own consent rules) and borrows from the warehouse
only who-is-who (identity resolution, which is not under test here):

* **consent**: the customer's most recently updated loyalty profile grants the channel
  (social: the customer's last follow / unfollow event is a follow);
* **unsubscribe**: no unsubscribe (social: unfollow) of the exported address, or of any
  address of the customer on that channel, at or after that consent (or with no consent
  time to compare with);
* **suppression**: no suppression entry of the channel or `all` names the address, the
  customer id or any identifier of the customer;
* **erasure**: no export carries a value named in an erasure request, a tombstoned value,
  or (for people erased after a first build) any identifier or the customer id the person
  had before.

Three rounds, each with fresh random states:

1. everything random at once, before the first build;
2. a second delivery aimed at people who WERE exported: new unsubscribes, revoked consents
   (a newer profile version), suppressions by address and by customer id, erasures; full
   rebuild;
3. the same kind of delivery, but only ingestion, erasure and the audiences asset run (no
   dbt): the marts are stale, and the raw-layer guard and the erasure tombstones must stop
   the exports on their own.

Each round asserts zero violations, that every targeted person is gone, and that the test
is not vacuous (every channel exports someone; every exclusion rule fired).
"""

import csv
import hashlib
import json
import re
import shutil
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import dagster as dg
import duckdb
import numpy as np
import pandas as pd
import pytest

from orchestration import definitions, erasure
from orchestration.contracts import LANDING_SOURCES
from orchestration.resources import ModelStore, WarehouseResource, default_resources

pytestmark = [pytest.mark.integration, pytest.mark.slow]

PERSONS = 500
SEED = 13
CHANNELS = ("email", "sms", "push", "social")
ADDRESS_TYPE = {"email": "email", "sms": "phone", "push": "device_id", "social": "open_id"}
ENGAGEMENT = {"email": ("email_engagement", "email"), "sms": ("sms_engagement", "phone"),
              "push": ("push_engagement", "device_id")}
AUDIENCES_YAML = "version: 1\naudiences:\n" + "".join(
    f"  - name: fuzz_{c}\n    channel: {c}\n    where: [{{field: customers.is_identified, eq: true}}]\n"
    for c in CHANNELS
)
ELIGIBILITY = dg.AssetKey(["marts", "customer_channel_eligibility"])
ADDRESSES = dg.AssetKey(["marts", "customer_channel_addresses"])
AUDIENCES = dg.AssetKey(["activation", "audiences"])
START = pd.Timestamp("2023-01-01")
END = pd.Timestamp("2026-06-01")


# --------------------------------------------------------------------------- the oracle's own normalisation


def norm_email(value: object) -> str | None:
    text = str(value or "").strip().lower()
    return text if re.fullmatch(r"[a-z0-9._%+-]+@[a-z0-9-]+(\.[a-z0-9-]+)*\.[a-z]{2,}", text) else None


def norm_phone(value: object) -> str | None:
    text = str(value or "").strip()
    digits = re.sub(r"\D", "", text)
    if text.startswith("+") and not digits.startswith("86"):
        return None
    for prefix in ("0086", "86"):
        if digits.startswith(prefix) and len(digits) == len(prefix) + 11:
            digits = digits[len(prefix):]
            break
    return "+86" + digits if len(digits) == 11 and digits.startswith("1") else None


def norm(identifier_type: str, value: object, platform: object = None) -> str | None:
    if identifier_type == "email":
        return norm_email(value)
    if identifier_type == "phone":
        return norm_phone(value)
    text = str(value or "").strip()
    if not text:
        return None
    if identifier_type == "open_id" and platform is not None:
        return f"{str(platform).strip().lower()}:{text}"
    if identifier_type == "open_id" and ":" in text:
        head, tail = text.split(":", 1)
        return f"{head.strip().lower()}:{tail.strip()}"
    return text


def noisy(identifier_type: str, value: str, rng: np.random.Generator) -> str:
    """The value as a person or another system might write it (the pipeline must normalise it)."""
    if identifier_type == "email" and rng.random() < 0.5:
        return f"  {value.upper()} "
    if identifier_type == "phone" and rng.random() < 0.5:
        digits = value.removeprefix("+86")
        return f"0086-{digits[:3]} {digits[3:7]} {digits[7:]}"
    return value


# --------------------------------------------------------------------------- landing files


def read_source(landing: Path, source: str) -> pd.DataFrame:
    files = sorted((landing / source).glob("*.csv"))
    frames = [pd.read_csv(f, dtype=str, keep_default_na=False).assign(_file=f.name) for f in files]
    if not frames:
        return pd.DataFrame(columns=LANDING_SOURCES[source].column_names)
    return pd.concat(frames, ignore_index=True)


def write_rows(landing: Path, source: str, name: str, rows: list[dict[str, object]]) -> None:
    columns = LANDING_SOURCES[source].column_names
    folder = landing / source
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / name).open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=columns)
        writer.writeheader()
        for row in rows:
            writer.writerow({c: row.get(c, "") for c in columns})


def when(rng: np.random.Generator, low: pd.Timestamp = START, high: pd.Timestamp = END) -> str:
    seconds = int(rng.integers(0, int((high - low).total_seconds())))
    return (low + pd.Timedelta(seconds=seconds)).strftime("%Y-%m-%d %H:%M:%S")


def randomise_consent(landing: Path, rng_seed: int) -> None:
    """Rewrite every CRM profile version's consent: granted / granted without time / refused / missing.

    Keyed by (member_id, updated_at), so a version delivered twice gets the same state twice.
    """
    for path in sorted((landing / "crm_profiles").glob("*.csv")):
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
        for i, row in frame.iterrows():
            key = f"{rng_seed}|{row['member_id']}|{row['updated_at']}".encode()
            rng = np.random.default_rng(int.from_bytes(hashlib.sha256(key).digest()[:8], "little"))
            for channel in ("email", "sms", "push"):
                state = rng.choice(["granted", "granted_no_time", "refused", "missing"], p=[0.55, 0.1, 0.2, 0.15])
                frame.loc[i, f"consent_{channel}"] = {"granted": "true", "granted_no_time": "true",
                                                      "refused": "false", "missing": ""}[state]
                frame.loc[i, f"consent_{channel}_at"] = when(rng) if state == "granted" else ""
        frame.to_csv(path, index=False)


# --------------------------------------------------------------------------- pipeline


@dataclass
class Fuzz:
    root: Path
    landing: Path
    warehouse: Path
    resources: dict
    exports: Path
    erased_values: set[tuple[str, str]] = field(default_factory=set)
    erased_customers: set[str] = field(default_factory=set)
    counter: int = 0

    def query(self, sql: str, params: Iterable[object] = ()) -> pd.DataFrame:
        with duckdb.connect(str(self.warehouse), read_only=True) as con:
            return con.execute(sql, list(params)).df()

    def run(self, selection: dg.AssetSelection) -> dg.ExecuteInProcessResult:
        result = dg.materialize(list(definitions.defs.assets), selection=selection, resources=self.resources,
                                raise_on_error=False)
        failures = [e.message for e in result.all_events if e.is_step_failure]
        assert result.success, failures
        return result

    def exported(self) -> pd.DataFrame:
        frames = [pd.read_csv(p, dtype=str, keep_default_na=False) for p in sorted(self.exports.glob("*/*.csv"))]
        return pd.concat(frames, ignore_index=True)

    def next_id(self, prefix: str) -> str:
        self.counter += 1
        return f"{prefix}{self.counter:08d}"


FULL = (dg.AssetSelection.assets(ELIGIBILITY, ADDRESSES).upstream() | dg.AssetSelection.assets(AUDIENCES))
RAW = dg.AssetSelection.groups("raw")
ONLY_AUDIENCES = dg.AssetSelection.assets(AUDIENCES)


@pytest.fixture(scope="module")
def fuzz(tmp_path_factory: pytest.TempPathFactory) -> Fuzz:
    from orchestration.sample_data.simulator import SimulationConfig, simulate

    root = tmp_path_factory.mktemp("consent_fuzz")
    simulate(SimulationConfig(n_customers=PERSONS, seed=SEED), root / "sim")
    landing = root / "landing"
    shutil.copytree(root / "sim" / "landing", landing)
    (root / "audiences.yaml").write_text(AUDIENCES_YAML, encoding="utf-8")
    resources = default_resources()
    resources["warehouse"] = WarehouseResource(path=str(root / "warehouse.duckdb"), landing_dir=str(landing))
    resources["model_store"] = ModelStore(path=str(root / "models"))
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("C360_AUDIENCES_PATH", str(root / "audiences.yaml"))
        yield Fuzz(root, landing, root / "warehouse.duckdb", resources, root / "exports")


# --------------------------------------------------------------------------- the oracle


def violations(f: Fuzz) -> list[str]:
    """Every exported row that breaks a rule, judged from the landing files (see the module docstring)."""
    exported = f.exported()
    records = f.query("select record_id as member_id, customer_id from intermediate.int_records_resolved "
                      "where source_model = 'stg_crm_profiles__members'")
    identities = f.query("select customer_id, identifier_type, identifier_value from marts.customer_identities")
    ids_of: dict[str, set[tuple[str, str]]] = {}
    for c, t, v in identities.itertuples(index=False):
        ids_of.setdefault(c, set()).add((t, v))
    crm = read_source(f.landing, "crm_profiles").drop_duplicates(["member_id", "updated_at"])
    crm = crm.merge(records, on="member_id")
    crm["updated"] = pd.to_datetime(crm["updated_at"])
    latest = crm[crm["updated"] == crm.groupby("customer_id")["updated"].transform("max")]

    unsubscribes: dict[str, pd.DataFrame] = {}
    for channel, (source, column) in ENGAGEMENT.items():
        events = read_source(f.landing, source)
        events = events[events["event_type"].str.strip().str.lower() == "unsubscribe"].copy()
        events["address"] = [norm(ADDRESS_TYPE[channel], v) for v in events[column]]
        events["at"] = pd.to_datetime(events["occurred_at"])
        unsubscribes[channel] = events
    social = read_source(f.landing, "social_interactions")
    social = social[social["interaction_type"].str.strip().str.lower().isin(["follow", "unfollow"])].copy()
    social["address"] = [norm("open_id", o, p) for o, p in zip(social["open_id"], social["platform"], strict=True)]
    social["at"] = pd.to_datetime(social["occurred_at"])
    suppressions = read_source(f.landing, "suppressions")
    suppressions["type"] = suppressions["identifier_type"].str.strip().str.lower()
    suppressions["value"] = [norm(t, v) for t, v in zip(suppressions["type"], suppressions["identifier_value"],
                                                        strict=True)]
    suppressions["channel"] = suppressions["channel"].str.strip().str.lower()
    requests = read_source(f.landing, "erasure_requests")
    requested = {(t.strip().lower(), norm(t.strip().lower(), v)) for t, v in
                 zip(requests["identifier_type"], requests["identifier_value"], strict=True)}
    with duckdb.connect(str(f.warehouse), read_only=True) as con:
        tombstones = set(con.execute("select identifier_type, identifier_hash from raw.erasure_tombstones").fetchall())
    salt = erasure.identity_salt()

    def tombstoned(identifier_type: str, value: str) -> bool:
        digest = hashlib.sha256(f"{salt}|{identifier_type}|{value}".encode()).hexdigest()
        return (identifier_type, digest) in tombstones

    problems = []
    for row in exported.itertuples(index=False):
        c, channel, address = row.customer_id, row.channel, row.address
        mine = ids_of.get(c, set())
        addresses = {v for t, v in mine if t == ADDRESS_TYPE[channel]} | {address}
        where = f"{channel} export of {c} ({address})"
        # consent
        consent_at = None
        if channel == "social":
            events = social[social["address"].isin(addresses)]
            follows, unfollows = events[events["interaction_type"] == "follow"], events[
                events["interaction_type"] == "unfollow"]
            if follows.empty or (not unfollows.empty and unfollows["at"].max() >= follows["at"].max()):
                problems.append(f"{where}: does not follow the brand")
        else:
            profile = latest[latest["customer_id"] == c]
            if profile.empty or not (profile[f"consent_{channel}"].str.strip().str.lower() == "true").all():
                problems.append(f"{where}: no consent on the latest profile")
            elif (profile[f"consent_{channel}_at"] != "").all():
                consent_at = pd.to_datetime(profile[f"consent_{channel}_at"]).min()
            # unsubscribe of this address or any address of the customer, at or after the consent
            events = unsubscribes[channel]
            hits = events[events["address"].isin(addresses)]
            if consent_at is not None:
                hits = hits[hits["at"] >= consent_at]
            if not hits.empty:
                problems.append(f"{where}: unsubscribed at {hits['at'].max()} (consent {consent_at})")
        # suppression
        for s in suppressions[suppressions["channel"].isin([channel, "all"])].itertuples(index=False):
            if (s.type == "customer_id" and s.value == c) or (s.type, s.value) in mine or (
                    s.type == ADDRESS_TYPE[channel] and s.value == address):
                problems.append(f"{where}: suppressed by {s.suppression_id}")
        # erasure
        if (ADDRESS_TYPE[channel], address) in requested or (ADDRESS_TYPE[channel], address) in f.erased_values:
            problems.append(f"{where}: erased value")
        if c in f.erased_customers or tombstoned("customer_id", c) or tombstoned(ADDRESS_TYPE[channel], address):
            problems.append(f"{where}: erased person")
    return problems


def manifest(f: Fuzz) -> dict:
    return json.loads((f.exports / "manifest.json").read_text())


def excluded_totals(f: Fuzz) -> dict[str, int]:
    totals: dict[str, int] = {}
    for audience in manifest(f)["audiences"]:
        for reason, n in audience["excluded"].items():
            totals[reason] = totals.get(reason, 0) + n
    return totals


# --------------------------------------------------------------------------- rounds


def round_one(f: Fuzz) -> None:
    """Random states for everyone, before anything is loaded."""
    rng = np.random.default_rng(SEED)
    randomise_consent(f.landing, SEED)
    for channel, (source, column) in ENGAGEMENT.items():
        values = sorted({v for v in read_source(f.landing, source)[column] if norm(ADDRESS_TYPE[channel], v)})
        picked = [values[i] for i in rng.choice(len(values), len(values) // 4, replace=False)]
        write_rows(f.landing, source, f"{source}_fuzz1.csv", [
            {"event_id": f.next_id("FZ"), "occurred_at": when(rng), column: noisy(ADDRESS_TYPE[channel], v, rng),
             "event_type": "unsubscribe"} for v in picked
        ])  # fmt: skip
    follows = read_source(f.landing, "social_interactions")
    follows = follows[follows["interaction_type"] == "follow"].drop_duplicates(["platform", "open_id"])
    rows = []
    for p, o in follows.sample(frac=0.4, random_state=SEED)[["platform", "open_id"]].itertuples(index=False):
        rows.append({"interaction_id": f.next_id("FZ"), "occurred_at": when(rng), "platform": p, "open_id": o,
                     "interaction_type": str(rng.choice(["unfollow", "follow"], p=[0.7, 0.3]))})
    write_rows(f.landing, "social_interactions", "social_interactions_fuzz1.csv", rows)
    entries = []
    for channel, (source, column) in ENGAGEMENT.items():
        values = sorted({v for v in read_source(f.landing, source)[column] if norm(ADDRESS_TYPE[channel], v)})
        for v in (values[i] for i in rng.choice(len(values), len(values) // 10, replace=False)):
            entries.append({"suppression_id": f.next_id("SUP"), "suppressed_at": when(rng),
                            "channel": str(rng.choice([*CHANNELS, "all"])), "identifier_type": ADDRESS_TYPE[channel],
                            "identifier_value": noisy(ADDRESS_TYPE[channel], v, rng), "reason": "fuzz"})
    for p, o in follows.sample(frac=0.1, random_state=SEED + 1)[["platform", "open_id"]].itertuples(index=False):
        entries.append({"suppression_id": f.next_id("SUP"), "suppressed_at": when(rng), "channel": "social",
                        "identifier_type": "open_id", "identifier_value": f"{p.upper()}:{o}", "reason": "fuzz"})
    write_rows(f.landing, "suppressions", "suppressions_fuzz1.csv", entries)
    emails = sorted({e for e in read_source(f.landing, "crm_profiles")["email"] if norm_email(e)})
    erased = [emails[i] for i in rng.choice(len(emails), 8, replace=False)]
    f.erased_values |= {("email", norm_email(e)) for e in erased}
    write_rows(f.landing, "erasure_requests", "erasure_fuzz1.csv", [
        {"request_id": f.next_id("ER"), "requested_at": "2026-06-01 00:00:00", "identifier_type": "email",
         "identifier_value": noisy("email", e, rng)} for e in erased
    ])  # fmt: skip


def targeted_round(f: Fuzz, tag: str, rng: np.random.Generator, size: int) -> dict[str, set[tuple[str, str]]]:
    """New deliveries aimed at currently exported people; returns (customer, channel) pairs that must go."""
    exported = f.exported()
    targets: dict[str, set[tuple[str, str]]] = {"unsubscribed": set(), "suppressed": set(), "erased": set()}
    taken: set[str] = set()

    def pick(channel: str, n: int) -> list[tuple[str, str]]:
        rows = exported[(exported["channel"] == channel) & ~exported["customer_id"].isin(taken)]
        chosen = rows.sample(n=min(n, len(rows)), random_state=int(rng.integers(0, 2**31)))
        taken.update(chosen["customer_id"])
        return list(zip(chosen["customer_id"], chosen["address"], strict=True))

    late = pd.Timestamp("2026-06-30 12:00:00")
    for channel, (source, column) in ENGAGEMENT.items():
        chosen = pick(channel, size)
        write_rows(f.landing, source, f"{source}_fuzz{tag}.csv", [
            {"event_id": f.next_id("FZ"), "occurred_at": str(late), column: noisy(ADDRESS_TYPE[channel], a, rng),
             "event_type": "unsubscribe"} for _, a in chosen
        ])  # fmt: skip
        targets["unsubscribed"] |= {(c, channel) for c, _ in chosen}
    chosen = pick("social", size)
    write_rows(f.landing, "social_interactions", f"social_interactions_fuzz{tag}.csv", [
        {"interaction_id": f.next_id("FZ"), "occurred_at": str(late), "platform": a.split(":", 1)[0],
         "open_id": a.split(":", 1)[1], "interaction_type": "unfollow"} for _, a in chosen
    ])  # fmt: skip
    targets["unsubscribed"] |= {(c, "social") for c, _ in chosen}
    entries = []
    for channel in CHANNELS:
        by_address, by_customer = pick(channel, size), pick(channel, size)
        entries += [{"suppression_id": f.next_id("SUP"), "suppressed_at": str(late), "channel": channel,
                     "identifier_type": ADDRESS_TYPE[channel], "reason": "complaint",
                     "identifier_value": noisy(ADDRESS_TYPE[channel], a, rng)} for _, a in by_address]
        entries += [{"suppression_id": f.next_id("SUP"), "suppressed_at": str(late), "channel": "all",
                     "identifier_type": "customer_id", "identifier_value": c, "reason": "legal"}
                    for c, _ in by_customer]
        targets["suppressed"] |= {(c, channel) for c, _ in by_address + by_customer}
    write_rows(f.landing, "suppressions", f"suppressions_fuzz{tag}.csv", entries)
    # erasure by the exported e-mail; the person's former identifiers must never come back
    identities = f.query("select customer_id, identifier_type, identifier_value from marts.customer_identities")
    chosen = pick("email", max(2, size // 2))
    for c, _ in chosen:
        f.erased_customers.add(c)
        owned = identities[identities["customer_id"] == c]
        f.erased_values |= set(zip(owned["identifier_type"], owned["identifier_value"], strict=True))
        targets["erased"] |= {(c, ch) for ch in CHANNELS}
    write_rows(f.landing, "erasure_requests", f"erasure_fuzz{tag}.csv", [
        {"request_id": f.next_id("ER"), "requested_at": str(late), "identifier_type": "email",
         "identifier_value": noisy("email", a, rng)} for _, a in chosen
    ])  # fmt: skip
    return targets


def revoke_consent(f: Fuzz, tag: str, rng: np.random.Generator, size: int) -> set[tuple[str, str]]:
    """A newer profile version that withdraws e-mail consent for exported customers."""
    exported = f.exported()
    rows = exported[exported["channel"] == "email"]
    chosen = rows.sample(n=min(size, len(rows)), random_state=int(rng.integers(0, 2**31)))["customer_id"]
    records = f.query("select record_id as member_id, customer_id from intermediate.int_records_resolved "
                      "where source_model = 'stg_crm_profiles__members'")
    crm = read_source(f.landing, "crm_profiles").merge(records, on="member_id")
    crm = crm[crm["customer_id"].isin(set(chosen))]
    crm = crm.sort_values("updated_at").drop_duplicates("customer_id", keep="last")
    new = crm.drop(columns=["customer_id", "_file"]).assign(updated_at="2026-06-30 13:00:00", consent_email="false",
                                                            consent_email_at="")
    write_rows(f.landing, "crm_profiles", f"crm_profiles_fuzz{tag}.csv", new.to_dict("records"))
    return {(c, "email") for c in crm["customer_id"]}


def assert_round(f: Fuzz, targets: dict[str, set[tuple[str, str]]] | None = None) -> None:
    problems = violations(f)
    assert problems == [], f"{len(problems)} violation(s): {problems[:20]}"
    exported = f.exported()
    pairs = set(zip(exported["customer_id"], exported["channel"], strict=True))
    per_channel = exported["channel"].value_counts().to_dict()
    assert all(per_channel.get(ch, 0) > 0 for ch in CHANNELS), f"a channel exports nobody: {per_channel}"
    for reason, wanted in (targets or {}).items():
        assert len(wanted) >= 3, f"too few {reason} targets: {wanted}"
        assert not (pairs & wanted), f"{reason}: {sorted(pairs & wanted)[:10]}"


def test_round_one_random_states(fuzz: Fuzz):
    round_one(fuzz)
    fuzz.run(FULL)
    assert_round(fuzz)
    totals = excluded_totals(fuzz)
    for reason in ("no_consent", "unsubscribed", "suppressed", "no_address"):
        assert totals.get(reason, 0) > 0, (reason, totals)
    erasure_log = fuzz.query("select status, count(*) as n from raw.erasure_log group by 1")
    assert erasure_log["n"].sum() == 8


def test_round_two_targets_exported_people_and_rebuilds(fuzz: Fuzz):
    rng = np.random.default_rng(SEED + 2)
    targets = targeted_round(fuzz, "2", rng, size=6)
    targets["revoked"] = revoke_consent(fuzz, "2", rng, size=6)
    fuzz.run(FULL)
    assert_round(fuzz, targets)


def test_round_three_stale_marts_are_caught_by_the_raw_guard_and_tombstones(fuzz: Fuzz):
    rng = np.random.default_rng(SEED + 3)
    targets = targeted_round(fuzz, "3", rng, size=4)
    # ingestion and erasure, then audiences (two runs: within one selection nothing orders
    # audiences after ingestion); no dbt, so dim_customers and eligibility are a round old
    fuzz.run(RAW)
    fuzz.run(ONLY_AUDIENCES)
    assert_round(fuzz, targets)
    totals = excluded_totals(fuzz)
    assert totals.get("erased", 0) > 0 and totals.get("unsubscribed", 0) > 0 and totals.get("suppressed", 0) > 0
    # the erased people are still in the stale marts: only the guard kept them out
    stale = fuzz.query("select count(*) as n from marts.dim_customers where customer_id in (select unnest(?))",
                       [sorted(fuzz.erased_customers)])
    assert int(stale["n"].iloc[0]) > 0
