"""Declarative audiences and consent-safe activation exports.

Audiences live in a YAML file (``config/audiences.yaml``; ``C360_AUDIENCES_PATH``
overrides it): each is a name, a channel, and rules over customer-grain marts, e.g.

.. code-block:: yaml

    audiences:
      - name: at_risk_high_value_winback
        description: High-value buyers likely to churn, for a personal win-back e-mail.
        channel: email
        where:
          - {field: vap.value_band, in: [high]}
          - {field: churn.risk_band, in: [high, medium]}
        payload: [nba.treatment, offers.recommended_discount_pct]

Rules are data, never SQL: a ``field`` is ``<table alias>.<column>`` where the alias is
one of :data:`RULE_TABLES` and the column must exist in that mart (checked against the
warehouse catalog), operators come from a fixed list, and every value is a bound query
parameter. A rule file therefore cannot inject SQL or reach a restricted table.

What an audience becomes (:func:`build_audiences`):

* ``audiences.audience_<name>``: every matching identified customer with the channel,
  ``is_exported`` and, when not exported, the ``exclusion_reason``. No addresses.
* ``<exports>/<channel>/audience_<name>.csv``: the exported customers with their
  pseudonymous ``customer_id`` and the channel address from the restricted identity layer
  (``marts.customer_channel_addresses``), plus the payload columns. These files are
  restricted like ``customer_identities``: written owner-read/write only (0600).
* ``<exports>/manifest.json`` and ``audiences.export_manifest``: per audience and channel,
  matched / exported counts, excluded counts by reason, file path and SHA-256.

Who is never exported (the reason recorded is the first that applies):

1. ``no_contactable_channel`` for ``channel: best`` when the customer has none;
2. ``suppressed`` / ``unsubscribed`` / ``no_consent`` / ``no_address``: the customer's row in
   ``marts.customer_channel_eligibility``;
3. then a last-mile guard, so that what arrived after the marts were built still counts:
   ``erased`` when the customer id, the address or any identifier of the customer matches
   an erasure tombstone (``raw.erasure_tombstones``, see :mod:`orchestration.erasure`);
   ``suppressed`` / ``unsubscribed`` when the RAW layer has a suppression entry naming
   one of them, or an unsubscribe (social: unfollow) of one of the customer's addresses
   of the channel at or after the consent.

After writing, :func:`orchestration.erasure.scrub_exports` runs over the exports folder
(the erasure feature's hook), so a file can never keep a person erased since.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, Literal

import duckdb
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from orchestration import erasure
from orchestration.settings import PROJECT_ROOT

log = logging.getLogger(__name__)

CHANNELS: tuple[str, ...] = ("email", "sms", "push", "social")
#: Tables an audience rule may read, by alias. Customer grain, no raw identifiers. The
#: base of every audience is dim_customers (alias ``customers``), identified customers only.
RULE_TABLES: dict[str, str] = {
    "customers": "marts.dim_customers",
    "rfm": "marts.customer_rfm",
    "vap": "marts.customer_vap",
    "lifecycle": "marts.customer_lifecycle",
    "churn": "marts.customer_churn_risk",
    "clv": "marts.customer_clv",
    "segments": "marts.customer_segments",
    "features": "marts.customer_features",
    "nba": "marts.customer_next_best_action",
    "offers": "marts.customer_offer_policy",
}
EXCLUSION_REASONS: tuple[str, ...] = (
    "erased", "suppressed", "unsubscribed", "no_consent", "no_address", "no_contactable_channel",
)  # fmt: skip
AUDIENCES_ENV = "C360_AUDIENCES_PATH"
DEFAULT_AUDIENCES_PATH = PROJECT_ROOT / "config" / "audiences.yaml"
SCHEMA = "audiences"
EXPORT_PREFIX = "audience_"
MANIFEST_NAME = "manifest.json"

_NAME = re.compile(r"^[a-z][a-z0-9_]{0,55}$")
_IDENT = re.compile(r"^[a-z_][a-z0-9_]*$")

Scalar = str | int | float | bool


class AudienceConfigError(ValueError):
    """The audience file is invalid; the message names the audience and the problem."""


# --------------------------------------------------------------------------- the YAML model


def _check_field(value: str) -> str:
    """``<alias>.<column>``, lower-case identifiers, alias one of RULE_TABLES (existence is checked later)."""
    parts = value.split(".")
    if len(parts) != 2 or not all(_IDENT.match(p) for p in parts):
        raise ValueError(f"field must be <table>.<column> in lower case, got {value!r}")
    if parts[0] not in RULE_TABLES:
        raise ValueError(f"unknown table {parts[0]!r}; allowed: {', '.join(sorted(RULE_TABLES))}")
    return value


class Condition(BaseModel):
    """One comparison of a mart column with constant values (exactly one operator)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    field: str
    eq: Scalar | None = None
    ne: Scalar | None = None
    lt: Scalar | None = None
    lte: Scalar | None = None
    gt: Scalar | None = None
    gte: Scalar | None = None
    in_: list[Scalar] | None = Field(default=None, alias="in", min_length=1)
    not_in: list[Scalar] | None = Field(default=None, min_length=1)
    between: tuple[Scalar, Scalar] | None = None
    is_null: bool | None = None

    @field_validator("field")
    @classmethod
    def _qualified(cls, value: str) -> str:
        return _check_field(value)

    @model_validator(mode="after")
    def _one_operator(self) -> Condition:
        used = [name for name in _OPERATORS if getattr(self, name) is not None]
        if len(used) != 1:
            raise ValueError(f"{self.field}: give exactly one operator of {', '.join(_OPERATOR_NAMES)}, got {used}")
        return self

    @property
    def operator(self) -> str:
        return next(name for name in _OPERATORS if getattr(self, name) is not None)


_OPERATORS = ("eq", "ne", "lt", "lte", "gt", "gte", "in_", "not_in", "between", "is_null")
_OPERATOR_NAMES = tuple(o.rstrip("_") for o in _OPERATORS)
_COMPARISONS = {"eq": "=", "ne": "<>", "lt": "<", "lte": "<=", "gt": ">", "gte": ">="}


class AnyOf(BaseModel):
    """At least one of the conditions holds (OR)."""

    model_config = ConfigDict(extra="forbid")

    any: list[Condition] = Field(min_length=1)


class OrderBy(BaseModel):
    model_config = ConfigDict(extra="forbid")

    field: str
    descending: bool = True

    @field_validator("field")
    @classmethod
    def _qualified(cls, value: str) -> str:
        return _check_field(value)


class Audience(BaseModel):
    """A named audience: who (rules, all must hold), where (channel) and what to carry (payload)."""

    model_config = ConfigDict(extra="forbid")

    name: str
    description: str = ""
    channel: Literal["email", "sms", "push", "social", "best"]
    where: list[Annotated[Condition | AnyOf, Field(union_mode="left_to_right")]] = Field(min_length=1)
    payload: list[str] = Field(default_factory=list)
    order_by: OrderBy | None = None
    limit: int | None = Field(default=None, gt=0)

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not _NAME.match(value):
            raise ValueError(f"name must match {_NAME.pattern} (it names a table and a file), got {value!r}")
        return value

    @field_validator("payload")
    @classmethod
    def _payload(cls, value: list[str]) -> list[str]:
        for item in value:
            _check_field(item)
        if len(set(value)) != len(value):
            raise ValueError("payload lists a field twice")
        return value

    @model_validator(mode="after")
    def _limit_needs_order(self) -> Audience:
        if self.limit is not None and self.order_by is None:
            raise ValueError(f"{self.name}: limit needs order_by (which customers come first?)")
        return self

    def fields(self) -> list[str]:
        """Every table.column the audience reads."""
        used = [c.field for item in self.where for c in (item.any if isinstance(item, AnyOf) else [item])]
        used += self.payload
        if self.order_by:
            used.append(self.order_by.field)
        return used


class AudienceFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: Literal[1] = 1
    audiences: list[Audience] = Field(default_factory=list)

    @model_validator(mode="after")
    def _unique(self) -> AudienceFile:
        names = [a.name for a in self.audiences]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"audience names must be unique: {duplicates}")
        return self


def audiences_path(override: str | None = None) -> Path:
    """The audience file: an explicit path, else ``C360_AUDIENCES_PATH``, else config/audiences.yaml."""
    return Path(override or os.environ.get(AUDIENCES_ENV) or DEFAULT_AUDIENCES_PATH)


def parse_audiences(text: str, source: str = "<audiences>") -> AudienceFile:
    """Validate the YAML text of an audience file (structure only; columns are checked on a warehouse)."""
    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        raise AudienceConfigError(f"{source}: not valid YAML: {exc}") from exc
    try:
        return AudienceFile.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
        raise AudienceConfigError(f"{source}: {problems}") from exc


def load_audiences(path: Path) -> AudienceFile:
    return parse_audiences(path.read_text(encoding="utf-8"), str(path))


# --------------------------------------------------------------------------- rules → SQL


def rule_catalog(con: duckdb.DuckDBPyConnection) -> dict[str, set[str]]:
    """Columns of the rule tables that exist in this warehouse, by alias."""
    catalog: dict[str, set[str]] = {}
    for alias, qualified in RULE_TABLES.items():
        schema, table = qualified.split(".")
        rows = con.execute(
            "select column_name from duckdb_columns() where database_name = current_database() "
            "and schema_name = ? and table_name = ?",
            [schema, table],
        ).fetchall()
        if rows:
            catalog[alias] = {r[0] for r in rows}
    return catalog


@dataclass(frozen=True)
class CompiledAudience:
    """Parameterised SQL selecting customer_id, the payload columns and the order key."""

    sql: str
    params: list[Any]
    payload_columns: list[str]


def _column(name: str, catalog: Mapping[str, set[str]], audience: str) -> str:
    alias, column = name.split(".")
    if alias not in catalog:
        raise AudienceConfigError(f"{audience}: table {alias!r} ({RULE_TABLES[alias]}) is not in the warehouse yet")
    if column not in catalog[alias]:
        raise AudienceConfigError(
            f"{audience}: {RULE_TABLES[alias]} has no column {column!r}; it has {', '.join(sorted(catalog[alias]))}"
        )
    return f"{alias}.{column}"  # both parts matched the catalog and _IDENT: safe to splice


def _condition_sql(cond: Condition, catalog: Mapping[str, set[str]], audience: str) -> tuple[str, list[Any]]:
    col = _column(cond.field, catalog, audience)
    op = cond.operator
    if op in _COMPARISONS:
        return f"{col} {_COMPARISONS[op]} ?", [getattr(cond, op)]
    if op in ("in_", "not_in"):
        values = list(getattr(cond, op))
        marks = ", ".join("?" for _ in values)
        return f"{col} {'in' if op == 'in_' else 'not in'} ({marks})", values
    if op == "between":
        low, high = cond.between  # type: ignore[misc]
        return f"{col} between ? and ?", [low, high]
    return f"{col} is {'' if cond.is_null else 'not '}null", []


def compile_audience(audience: Audience, catalog: Mapping[str, set[str]]) -> CompiledAudience:
    """The audience's rules as one parameterised select over dim_customers and the tables it names."""
    used_aliases = sorted({f.split(".")[0] for f in audience.fields()} - {"customers"})
    for name in audience.fields():
        _column(name, catalog, audience.name)
    if "customers" not in catalog:
        raise AudienceConfigError(f"{audience.name}: marts.dim_customers is not in the warehouse yet")
    joins = [
        f"left join {RULE_TABLES[a]} as {a} on {a}.customer_id = customers.customer_id" for a in used_aliases
    ]
    clauses, params = [], []
    for item in audience.where:
        if isinstance(item, AnyOf):
            parts = [_condition_sql(c, catalog, audience.name) for c in item.any]
            clauses.append("(" + " or ".join(p[0] for p in parts) + ")")
            params += [v for p in parts for v in p[1]]
        else:
            sql, values = _condition_sql(item, catalog, audience.name)
            clauses.append(f"({sql})")
            params += values
    payload = [f"{_column(p, catalog, audience.name)} as {p.replace('.', '__')}" for p in audience.payload]
    payload_columns = [p.replace(".", "__") for p in audience.payload]
    order = "customers.customer_id"
    if audience.order_by:
        key = _column(audience.order_by.field, catalog, audience.name)
        order = f"{key} {'desc' if audience.order_by.descending else 'asc'} nulls last, customers.customer_id"
    sql = (
        f"select customers.customer_id{''.join(', ' + p for p in payload)}, "
        f"row_number() over (order by {order}) as audience_rank "
        f"from marts.dim_customers as customers {' '.join(joins)} "
        f"where customers.is_identified and {' and '.join(clauses)}"
    )
    if audience.limit:
        sql = f"select * from ({sql}) as ranked where audience_rank <= ?"
        params.append(audience.limit)
    return CompiledAudience(sql=sql, params=params, payload_columns=payload_columns)


# --------------------------------------------------------------------------- building audiences


@dataclass
class AudienceOutcome:
    name: str
    channel: str
    matched: int
    exported: int
    excluded: dict[str, int]
    files: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class AudienceRun:
    outcomes: list[AudienceOutcome]
    manifest_path: Path | None
    scrubbed_rows: int
    stale_files_removed: list[str]

    @property
    def exported(self) -> int:
        return sum(o.exported for o in self.outcomes)

    @property
    def excluded(self) -> dict[str, int]:
        total: dict[str, int] = {}
        for o in self.outcomes:
            for reason, n in o.excluded.items():
                total[reason] = total.get(reason, 0) + n
        return total


def _exists(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> bool:
    return bool(
        con.execute(
            "select exists (select 1 from duckdb_tables() where database_name = current_database() "
            "and schema_name = ? and table_name = ?)",
            [schema, table],
        ).fetchone()[0]
    )


_RAW_UNSUBSCRIBES = {
    # channel → (raw table, address column, identifier type, event column, unsubscribe value, platform column)
    "email": ("email_engagement", "email", "email", "event_type", "unsubscribe", None),
    "sms": ("sms_engagement", "phone", "phone", "event_type", "unsubscribe", None),
    "push": ("push_engagement", "device_id", "device_id", "event_type", "unsubscribe", None),
    "social": ("social_interactions", "open_id", "open_id", "interaction_type", "unfollow", "platform"),
}


def _guard_sql(con: duckdb.DuckDBPyConnection) -> list[tuple[str, str]]:
    """(reason, SQL selecting row_id of _audience_rows to exclude): erasure tombstones and the raw layer.

    Every check matches any identifier of the row's customer (_audience_identifiers: the
    customer id, the export address and, when built, the customer's identities), so the
    guard is as broad as the dbt eligibility rules, only fresher.
    """
    checks: list[tuple[str, str]] = []
    if _exists(con, "raw", "erasure_tombstones") and erasure.has_tombstones(con):
        checks.append((
            "erased",
            "select i.row_id from _audience_identifiers as i inner join raw.erasure_tombstones as t "
            "on t.identifier_type = i.identifier_type "
            f"and t.identifier_hash = {erasure.hash_sql('i.identifier_type', 'i.identifier_value')}",
        ))  # fmt: skip
    if _exists(con, "raw", "suppressions"):
        entry = {t: erasure.normalise_sql(t, "s.identifier_value") for t in ("email", "phone", "device_id")}
        normalised = (
            "case lower(trim(s.identifier_type)) "
            + " ".join(f"when '{t}' then {sql}" for t, sql in entry.items())
            + " when 'open_id' then lower(trim(split_part(s.identifier_value, ':', 1))) || ':' || "
            "trim(substring(s.identifier_value, position(':' in s.identifier_value) + 1)) "
            "else nullif(trim(s.identifier_value), '') end"
        )
        checks.append((
            "suppressed",
            "select i.row_id from _audience_identifiers as i "
            "inner join _audience_rows as r on r.row_id = i.row_id "
            "inner join raw.suppressions as s on lower(trim(s.channel)) in (r.channel, 'all') "
            f"and lower(trim(s.identifier_type)) = i.identifier_type and {normalised} = i.identifier_value",
        ))  # fmt: skip
    for channel, (table, column, id_type, event_col, event_value, platform) in _RAW_UNSUBSCRIBES.items():
        if not _exists(con, "raw", table):
            continue
        platform_sql = f"u.{platform}" if platform else None
        address = erasure.normalise_sql(id_type, f"u.{column}", platform_sql)
        checks.append((
            "unsubscribed",
            "select r.row_id from _audience_rows as r "
            f"inner join _audience_identifiers as i on i.row_id = r.row_id and i.identifier_type = '{id_type}' "
            f"inner join raw.{table} as u on r.channel = '{channel}' "
            f"and lower(trim(u.{event_col})) = '{event_value}' and {address} = i.identifier_value "
            "and (r.consented_at is null or u.occurred_at >= r.consented_at)",
        ))  # fmt: skip
    return checks


def _collect_identifiers(con: duckdb.DuckDBPyConnection) -> None:
    """_audience_identifiers: every identifier the guard may match for each audience row."""
    identities = (
        "union all select r.row_id, ci.identifier_type, ci.identifier_value from _audience_rows as r "
        "inner join marts.customer_identities as ci on ci.customer_id = r.customer_id"
        if _exists(con, "marts", "customer_identities") else ""
    )
    con.execute(
        "create or replace temp table _audience_identifiers as "
        "select row_id, 'customer_id' as identifier_type, customer_id as identifier_value from _audience_rows "
        "union all select row_id, address_type, address from _audience_rows where address is not null "
        f"{identities}"
    )


def build_audiences(
    con: duckdb.DuckDBPyConnection,
    config: AudienceFile,
    exports_dir: Path,
    generated_at: datetime | None = None,
) -> AudienceRun:
    """Write every audience table, export file and the manifest; returns what was done.

    Tables are replaced in one transaction (audience tables no longer configured are
    dropped); files are written to temporary names and renamed, stale audience files are
    removed, and the manifest is written last, so a reader that trusts the manifest's
    checksums never reads a half-written export.
    """
    generated_at = generated_at or datetime.now(UTC)
    catalog = rule_catalog(con)
    for needed in ("marts.customer_channel_eligibility", "marts.customer_channel_addresses"):
        if not _exists(con, *needed.split(".")):
            raise AudienceConfigError(f"{needed} is not in the warehouse yet: build the activation marts first")
    compiled = {a.name: compile_audience(a, catalog) for a in config.audiences}  # validate all before writing
    if any(a.channel == "best" for a in config.audiences) and "nba" not in catalog:
        raise AudienceConfigError("channel: best needs marts.customer_next_best_action")

    outcomes: list[AudienceOutcome] = []
    pending_files: list[tuple[Path, Path, str, AudienceOutcome, str]] = []
    staging_dir = exports_dir / ".staging"
    con.execute("begin transaction")
    try:
        con.execute(f"create schema if not exists {SCHEMA}")
        for audience in config.audiences:
            outcome, files = _build_one(con, audience, compiled[audience.name], staging_dir)
            outcomes.append(outcome)
            pending_files += [(tmp, exports_dir / ch / f"{EXPORT_PREFIX}{audience.name}.csv", ch, outcome,
                               audience.name) for tmp, ch in files]
        _write_manifest_table(con, outcomes, generated_at)
        keep = {f"{EXPORT_PREFIX}{a.name}" for a in config.audiences} | {"export_manifest"}
        for (table,) in con.execute(
            "select table_name from duckdb_tables() where database_name = current_database() and schema_name = ?",
            [SCHEMA],
        ).fetchall():
            if table.startswith(EXPORT_PREFIX) and table not in keep and _IDENT.match(table):
                con.execute(f"drop table {SCHEMA}.{table}")
        con.execute("commit")
    except Exception:
        con.execute("rollback")
        raise

    written: set[Path] = set()
    for tmp, target, channel, outcome, _name in pending_files:
        _restricted_dir(target.parent)
        os.replace(tmp, target)
        written.add(target)
        outcome.files.append({"channel": channel, "path": str(target.relative_to(exports_dir)),
                              "rows": _count_rows(target), "sha256": _sha256(target)})
    stale = _remove_stale(exports_dir, written)
    # the erasure feature's hook: no export file keeps a person erased at any time
    scrubbed = erasure.scrub_exports(con, exports_dir) if _exists(con, "raw", "erasure_tombstones") else {}
    for outcome in outcomes:
        for f in outcome.files:
            if f["path"] in scrubbed:  # only when marts and tombstones disagree; keep the manifest true
                f["rows"] = _count_rows(exports_dir / f["path"])
                f["sha256"] = _sha256(exports_dir / f["path"])
    manifest = _write_manifest_file(exports_dir, outcomes, generated_at, scrubbed)
    if staging_dir.is_dir() and not any(staging_dir.iterdir()):
        staging_dir.rmdir()
    return AudienceRun(outcomes, manifest, sum(scrubbed.values()), stale)


def _build_one(
    con: duckdb.DuckDBPyConnection, audience: Audience, compiled: CompiledAudience, staging_dir: Path
) -> tuple[AudienceOutcome, list[tuple[Path, str]]]:
    """Members, exclusions and staged export files of one audience (inside the caller's transaction).

    The audience name and channels spliced into SQL below are validated (name regex,
    channel literal), never free text.
    """
    con.execute(f"create or replace temp table _audience_matched as {compiled.sql}", compiled.params)
    payload = "".join(f", {c}" for c in compiled.payload_columns)
    if audience.channel == "best":
        channel_of = (
            "select m.*, nba.best_channel as channel from _audience_matched as m "
            "left join marts.customer_next_best_action as nba on nba.customer_id = m.customer_id"
        )
    else:
        channel_of = f"select m.*, '{audience.channel}' as channel from _audience_matched as m"
    con.execute(
        f"""
        create or replace temp table _audience_rows as
        with matched as ({channel_of})
        select
            row_number() over (order by matched.audience_rank) as row_id,
            matched.customer_id,
            matched.channel,
            case
                when matched.channel is null then 'no_contactable_channel'
                when e.customer_id is null then 'no_consent'
                else e.exclusion_reason
            end as exclusion_reason,
            e.consented_at,
            a.address_type,
            a.address,
            matched.audience_rank{"".join(f", matched.{c}" for c in compiled.payload_columns)}
        from matched
        left join marts.customer_channel_eligibility as e
            on e.customer_id = matched.customer_id and e.channel = matched.channel
        left join marts.customer_channel_addresses as a
            on a.customer_id = matched.customer_id and a.channel = matched.channel
        """
    )
    _collect_identifiers(con)
    for reason, select_ids in _guard_sql(con):
        con.execute(
            f"update _audience_rows set exclusion_reason = ? where exclusion_reason is null "
            f"and row_id in ({select_ids})",
            [reason],
        )
    as_of = "(select max(as_of_date) from marts.dim_customers)"
    con.execute(
        f"""
        create or replace table {SCHEMA}.{EXPORT_PREFIX}{audience.name} as
        select
            customer_id,
            '{audience.name}' as audience_name,
            channel,
            exclusion_reason is null as is_exported,
            exclusion_reason,
            audience_rank{payload},
            {as_of} as as_of_date
        from _audience_rows
        order by audience_rank
        """
    )
    counts = con.execute(
        "select count(*), count(*) filter (where exclusion_reason is null) from _audience_rows"
    ).fetchone()
    excluded = con.execute(
        "select exclusion_reason, count(*) from _audience_rows where exclusion_reason is not null "
        "group by 1 order by 1"
    ).fetchall()
    outcome = AudienceOutcome(audience.name, audience.channel, int(counts[0]), int(counts[1]),
                              {str(k): int(v) for k, v in excluded})
    files: list[tuple[Path, str]] = []
    staging_dir.mkdir(parents=True, exist_ok=True)
    for channel in CHANNELS if audience.channel == "best" else (audience.channel,):
        has_rows = con.execute(
            "select count(*) from _audience_rows where exclusion_reason is null and channel = ?", [channel]
        ).fetchone()[0]
        if audience.channel == "best" and not has_rows:
            continue  # a best-channel audience writes a file only where it has someone
        tmp = staging_dir / f"{EXPORT_PREFIX}{audience.name}.{channel}.csv.tmp"
        # a restricted file: owner-only from the moment it exists
        tmp.touch(mode=0o600, exist_ok=True)
        os.chmod(tmp, 0o600)
        con.execute(
            f"""
            copy (
                select customer_id, channel, address_type, address, '{audience.name}' as audience_name,
                    {as_of} as as_of_date{payload}
                from _audience_rows
                where exclusion_reason is null and channel = '{channel}'
                order by audience_rank
            ) to '{_sql_path(tmp)}' (format csv, header true)
            """
        )
        os.chmod(tmp, 0o600)
        files.append((tmp, channel))
    return outcome, files


def _write_manifest_table(con: duckdb.DuckDBPyConnection, outcomes: Sequence[AudienceOutcome], at: datetime) -> None:
    con.execute(
        f"create or replace table {SCHEMA}.export_manifest (audience_name varchar, channel varchar, "
        "matched_customers bigint, exported_customers bigint, "
        + ", ".join(f"excluded_{r} bigint" for r in EXCLUSION_REASONS)
        + ", generated_at timestamp)"
    )
    rows = [
        [o.name, o.channel, o.matched, o.exported, *(o.excluded.get(r, 0) for r in EXCLUSION_REASONS),
         at.replace(tzinfo=None)]
        for o in outcomes
    ]
    if rows:
        marks = ", ".join("?" for _ in rows[0])
        con.executemany(f"insert into {SCHEMA}.export_manifest values ({marks})", rows)


def _write_manifest_file(
    exports_dir: Path, outcomes: Sequence[AudienceOutcome], at: datetime, scrubbed: Mapping[str, int]
) -> Path:
    manifest = {
        "generated_at": at.isoformat(),
        "note": "restricted: export files hold personal addresses. Read only the files listed here, "
        "and check their sha256.",
        "exclusion_reasons": list(EXCLUSION_REASONS),
        "audiences": [
            {"name": o.name, "channel": o.channel, "matched": o.matched, "exported": o.exported,
             "excluded": {r: o.excluded.get(r, 0) for r in EXCLUSION_REASONS}, "files": o.files}
            for o in outcomes
        ],
        "rows_scrubbed_for_erasure": dict(scrubbed),
    }  # fmt: skip
    _restricted_dir(exports_dir)
    target = exports_dir / MANIFEST_NAME
    tmp = exports_dir / f".{MANIFEST_NAME}.tmp"
    tmp.write_text(json.dumps(manifest, indent=2, default=str), encoding="utf-8")
    os.chmod(tmp, 0o600)
    os.replace(tmp, target)
    return target


def _remove_stale(exports_dir: Path, written: set[Path]) -> list[str]:
    """Audience files of earlier runs that this run did not write (audience removed, channel empty)."""
    removed = []
    for channel in CHANNELS:
        folder = exports_dir / channel
        if not folder.is_dir():
            continue
        for path in folder.glob(f"{EXPORT_PREFIX}*.csv"):
            if path not in written:
                path.unlink()
                removed.append(str(path.relative_to(exports_dir)))
    return removed


def _restricted_dir(path: Path) -> None:
    path.mkdir(parents=True, exist_ok=True)
    os.chmod(path, 0o700)


def _sql_path(path: Path) -> str:
    return str(path).replace("'", "''")


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _count_rows(path: Path) -> int:
    with path.open("rb") as f:
        return max(sum(1 for _ in f) - 1, 0)
