"""Right to erasure: forget a person everywhere, and keep forgetting them when old files come back.

A request (landing source ``erasure_requests``) names ONE identifier of the person. The
person is whoever identity resolution says owns it: every record of the customer (cluster)
holding that identifier, including records linked to it only transitively (web events of a
cookie that was once seen on a login with the e-mail), plus the records that carry the
identifier itself and belong to no other customer.

How a request is applied (asset ``raw/erasures``, which every staging model waits for):

1. **Scope on today's data.** dbt builds staging and the identity models
   (``+int_records_clustered``) into scratch schemas ``erasure_scope__*`` of the warehouse,
   from the raw layer as it is now. The previous run's identity graph is not enough: a
   request that arrives together with the person's first delivery has no previous graph,
   and a new delivery can link new identifiers to the person (a new device seen with the
   e-mail) that the old graph never saw; erasing by it would leave those records behind as
   a fragment customer. The scratch schemas are dropped right after.
2. **Apply, in one transaction.** Tombstones (salted SHA-256 of each identifier of the
   person and of each customer id they ever had; never the value) go to
   ``raw.erasure_tombstones``. The person's rows are deleted from ``raw.<source>`` (by
   record key, and by tombstone match on the identifier columns) and from
   ``raw.rejected_rows`` (by identifier-shaped tokens in the rejected text); each file's
   manifest row moves them from loaded / rejected to ``rows_erased``, so that ``landed =
   loaded + rejected + erased`` still holds. The identity state forgets their customer ids
   (``int_customer_anchors_assigned``), cached GX verdicts of the touched files (which
   quote sample values) are invalidated, and the request rows themselves are replaced by
   a line in ``raw.erasure_log`` that keeps only the identifier's hash and the outcome.
3. **Rebuild.** The same run then builds staging, identity, marts, histories and scored
   tables from the cleaned raw layer, so the person is in none of them. Export files
   already written under the exports folder are scrubbed of any row carrying a tombstoned
   value (:func:`scrub_exports`, the hook audience exports use).

Afterwards the loader drops, at load time, every row that carries a tombstoned identifier
(:func:`tombstoned_rows_sql`): an old file delivered again never brings the person back.

Orders are deleted with the person, not kept anonymised: an order id still points to the
person in the shop's own systems (pseudonymous, not anonymous). Revenue, order and
engagement totals therefore drop by exactly the person's share, in every mart alike.

The SQL here is DuckDB's (the loader's dialect); identifier normalisation mirrors the dbt
macros in ``dbt_project/macros/normalize_identifiers.sql`` (tests/unit/test_erasure.py
holds the two together).
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from orchestration.contracts import SOURCES, SourceContract

log = logging.getLogger(__name__)

#: Dagster asset key of the erasure step (staging models depend on it).
ASSET_KEY = ("raw", "erasures")
#: Schema prefix of the scratch identity build (dbt var ``c360_schema_prefix``).
SCOPE_PREFIX = "erasure_scope__"
#: The dbt nodes the scope needs: staging of every identity source, the guards' seeds and
#: the identity models up to record clusters (no customer ids: those are minted later).
SCOPE_SELECTOR = "+int_records_clustered"

SALT_ENV = "C360_IDENTITY_SALT"
DEFAULT_SALT = "c360-development-salt"  # the same default as the dbt macro identity_customer_id

EMAIL_TYPES = ("email",)
PHONE_TYPES = ("phone",)
#: identifier types normalised as plain trimmed ids (dbt macro normalize_id)
ID_TYPES = ("account_id", "device_id", "cookie_id", "loyalty_card_number", "member_id")
#: what a request may name; open ids are ``<platform>:<open id>`` like in customer_identities,
#: or the bare open id (matched on every platform)
REQUEST_TYPES = (*EMAIL_TYPES, *PHONE_TYPES, *ID_TYPES, "open_id")
#: tombstone types besides the identifier types: former customer ids, and bare open ids
#: (rejected lines and exports hold the open id without its platform)
CUSTOMER_ID = "customer_id"
OPEN_ID_VALUE = "open_id_value"

#: Raw columns holding each identifier type, per source: the raw-level twin of the dbt macro
#: ``identity_record_sources`` (which names the staging columns). Columns missing from a
#: contract are skipped, so a column added to a contract later only needs a line here.
RAW_IDENTIFIERS: dict[str, tuple[tuple[str, str], ...]] = {
    "shop_orders": (("account_id", "account_id"), ("email", "account_email"), ("phone", "phone"),
                    ("device_id", "device_id")),
    "pos_transactions": (("loyalty_card_number", "loyalty_card_number"), ("phone", "phone")),
    "web_events": (("cookie_id", "cookie_id"), ("email", "account_email")),
    "app_events": (("device_id", "device_id"), ("account_id", "account_id")),
    "email_engagement": (("email", "email"),),
    "sms_engagement": (("phone", "phone"),),
    "push_engagement": (("device_id", "device_id"),),
    "social_interactions": (("open_id", "open_id"), ("phone", "phone")),
    "crm_profiles": (("member_id", "member_id"), ("loyalty_card_number", "loyalty_card_number"),
                     ("account_id", "account_id"), ("email", "email"), ("phone", "phone")),
    "service_tickets": (("email", "email"), ("phone", "phone")),
    "campaign_touches": (("email", "email"), ("phone", "phone"), ("device_id", "device_id"),
                         ("member_id", "member_id"), ("account_id", "account_id")),
}

EMAIL_PATTERN = "^[a-z0-9._%+-]+@[a-z0-9-]+([.][a-z0-9-]+)*[.][a-z]{2,}$"
#: identifier-shaped tokens in free text (rejected lines, JSON of rejected rows)
EMAIL_TOKEN = "[a-z0-9._%+-]+@[a-z0-9-]+(?:[.][a-z0-9-]+)*[.][a-z]{2,}"
PHONE_TOKEN = "[+]?[0-9][0-9 ().-]{8,20}[0-9]"
ID_TOKEN_SEPARATORS = '[,;:"{}\\[\\]\\s]+'

TOMBSTONES_DDL = """
create table if not exists raw.erasure_tombstones (
    identifier_type varchar not null,
    identifier_hash varchar not null,
    request_id varchar not null,
    erased_at timestamp not null
)
"""
LOG_DDL = """
create table if not exists raw.erasure_log (
    request_id varchar not null,
    requested_at timestamp,
    identifier_type varchar,
    identifier_hash varchar,
    status varchar not null,
    message varchar,
    customers_erased bigint not null,
    identifiers_erased bigint not null,
    records_erased bigint not null,
    request_file varchar,
    processed_at timestamp not null
)
"""

_PLAIN = re.compile(r"^[a-z_][a-z0-9_]*$")


# --------------------------------------------------------------------------- SQL building blocks


def identity_salt() -> str:
    """The secret that makes hashes unguessable; the customer-id salt, so one secret to keep.

    Changing it orphans existing tombstones (they could no longer be matched): like customer
    ids, set it once per deployment.
    """
    return os.environ.get(SALT_ENV, DEFAULT_SALT)


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def hash_sql(type_sql: str, value_sql: str, salt: str | None = None) -> str:
    """SQL of the tombstone hash: hex SHA-256 of ``salt|type|normalised value``."""
    secret = _literal(salt if salt is not None else identity_salt())
    return f"sha256({secret} || '|' || {type_sql} || '|' || {value_sql})"


def normalise_sql(identifier_type: str, value_sql: str, platform_sql: str | None = None) -> str:
    """DuckDB SQL of the staging normalisation of one identifier type (null when unusable).

    Mirrors dbt's normalize_email / normalize_phone / normalize_id and the platform-qualified
    open id of identity_record_sources.
    """
    if identifier_type in EMAIL_TYPES:
        cleaned = f"lower(trim({value_sql}))"
        return f"(case when regexp_matches({cleaned}, '{EMAIL_PATTERN}') then {cleaned} end)"
    if identifier_type in PHONE_TYPES:
        digits = f"regexp_replace({value_sql}, '[^0-9]', '', 'g')"
        return (
            f"(case when trim({value_sql}) like '+%' and {digits} not like '86%' then null "
            f"when length({digits}) = 11 and {digits} like '1%' then '+86' || {digits} "
            f"when length({digits}) = 13 and {digits} like '861%' then '+' || {digits} "
            f"when length({digits}) = 15 and {digits} like '00861%' then '+' || right({digits}, 13) end)"
        )
    if identifier_type == "open_id":
        platform = f"coalesce(nullif(lower(trim({platform_sql})), ''), 'unknown')" if platform_sql else "'unknown'"
        return f"({platform} || ':' || nullif(trim({value_sql}), ''))"
    if identifier_type in (*ID_TYPES, CUSTOMER_ID, OPEN_ID_VALUE):
        return f"nullif(trim({value_sql}), '')"
    raise ValueError(f"unknown identifier type {identifier_type!r}")


def identifier_columns(contract: SourceContract) -> list[tuple[str, str]]:
    """(identifier type, raw column) pairs of a source that exist in its contract."""
    names = set(contract.column_names)
    return [(t, c) for t, c in RAW_IDENTIFIERS.get(contract.name, ()) if c in names]


def has_tombstones(con: duckdb.DuckDBPyConnection) -> bool:
    """Cheap guard: suppression costs nothing until someone has been erased."""
    return bool(con.execute("select exists (select 1 from raw.erasure_tombstones)").fetchone()[0])


def tombstoned_rows_sql(contract: SourceContract, relation: str, keys: Sequence[str]) -> str:
    """``select distinct <keys>`` of the rows of ``relation`` that carry a tombstoned identifier.

    ``relation`` has the contract's column names (raw values); every identifier column is
    normalised like staging does and hashed, then joined to the tombstones.
    """
    key_list = ", ".join(keys)
    parts = []
    for identifier_type, column in identifier_columns(contract):
        platform = '"platform"' if identifier_type == "open_id" else None
        value = normalise_sql(identifier_type, f'"{column}"', platform)
        parts.append(f"select {key_list}, '{identifier_type}' as identifier_type, {value} as identifier_value "
                     f"from {relation}")
        if identifier_type == "open_id":
            # a request may name the bare open id, without its platform
            bare = normalise_sql(OPEN_ID_VALUE, f'"{column}"')
            parts.append(f"select {key_list}, '{OPEN_ID_VALUE}', {bare} from {relation}")
    if not parts:
        return f"select {key_list} from {relation} where false"
    return (
        f"select distinct {', '.join('x.' + k for k in keys)} from ({' union all '.join(parts)}) as x "
        "inner join raw.erasure_tombstones as t on t.identifier_type = x.identifier_type "
        f"and t.identifier_hash = {hash_sql('x.identifier_type', 'x.identifier_value')} "
        "where x.identifier_value is not null"
    )


def tombstoned_text_sql(relation: str, key: str, text_column: str) -> str:
    """``select distinct <key>`` of the rows of ``relation`` whose free text mentions a tombstoned value.

    For lines that could not be parsed into columns (rejected rows): e-mail- and phone-shaped
    tokens are normalised as such, every other token is tried as each id type.
    """
    id_types = ", ".join(f"('{t}')" for t in (*ID_TYPES, OPEN_ID_VALUE, CUSTOMER_ID))
    tokens = (
        f"select {key} as k, 'email' as kind, unnest(regexp_extract_all(lower({text_column}), '{EMAIL_TOKEN}')) "
        f"as token from {relation} where {text_column} is not null "
        f"union all select {key}, 'phone', unnest(regexp_extract_all({text_column}, '{PHONE_TOKEN}')) "
        f"from {relation} where {text_column} is not null "
        f"union all select {key}, 'id', unnest(regexp_split_to_array({text_column}, '{ID_TOKEN_SEPARATORS}')) "
        f"from {relation} where {text_column} is not null"
    )
    candidates = (
        f"select k, 'email' as identifier_type, {normalise_sql('email', 'token')} as identifier_value "
        "from tokens where kind = 'email' "
        f"union all select k, 'phone', {normalise_sql('phone', 'token')} from tokens where kind = 'phone' "
        f"union all select k, id_types.t, nullif(trim(token), '') from tokens "
        f"cross join (values {id_types}) as id_types(t) where kind = 'id' and length(token) >= 4"
    )
    return (
        f"with tokens as ({tokens}), candidates as ({candidates}) "
        "select distinct c.k from candidates as c inner join raw.erasure_tombstones as t "
        "on t.identifier_type = c.identifier_type "
        f"and t.identifier_hash = {hash_sql('c.identifier_type', 'c.identifier_value')} "
        "where c.identifier_value is not null"
    )


def ensure_tables(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("create schema if not exists raw")
    con.execute(TOMBSTONES_DDL)
    con.execute(LOG_DDL)


def _exists(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> bool:
    return bool(con.execute(
        "select exists (select 1 from duckdb_tables() where database_name = current_database() "
        "and schema_name = ? and table_name = ?)",
        [schema, table],
    ).fetchone()[0])


# --------------------------------------------------------------------------- the scope pass


def pending_requests(con: duckdb.DuckDBPyConnection) -> int:
    """Request rows loaded and not yet applied (applied rows are removed from raw)."""
    if not _exists(con, "raw", "erasure_requests"):
        return 0
    return int(con.execute("select count(*) from raw.erasure_requests").fetchone()[0])


def scope_dbt_args() -> list[str]:
    """The dbt command that builds the scratch identity graph (models and seeds, no tests)."""
    return [
        "build", "--select", SCOPE_SELECTOR, "--exclude-resource-type", "test", "unit_test",
        "--vars", '{"c360_schema_prefix": "' + SCOPE_PREFIX + '"}',
    ]


def drop_scope_schemas(con: duckdb.DuckDBPyConnection) -> None:
    """Drop the scratch schemas (also the leftovers of a pass that crashed)."""
    schemas = [s for (s,) in con.execute(
        "select schema_name from duckdb_schemas() where database_name = current_database() "
        "and starts_with(schema_name, ?)",
        [SCOPE_PREFIX],
    ).fetchall()]
    for schema in schemas:
        if _PLAIN.match(schema):
            con.execute(f"drop schema if exists {schema} cascade")


@dataclass
class RequestOutcome:
    request_id: str
    identifier_type: str | None
    status: str
    message: str
    customers: int = 0
    identifiers: int = 0
    records: int = 0


@dataclass
class ErasureOutcome:
    """What one application of the pending requests did (counts only, never values)."""

    requests: list[RequestOutcome] = field(default_factory=list)
    raw_rows: dict[str, int] = field(default_factory=dict)
    rejected_rows: int = 0
    request_rows: int = 0
    files_touched: int = 0
    tombstones_added: int = 0
    customer_ids_forgotten: int = 0
    #: values (normalised and as written) of what was erased: only to scrub documents right
    #: after the transaction; never stored or logged
    erased_values: set[str] = field(default_factory=set, repr=False)

    @property
    def rows_erased(self) -> int:
        return sum(self.raw_rows.values()) + self.rejected_rows


def _requests_sql(scope: str) -> str:
    """Pending requests, validated and normalised, with their status so far.

    ``request_key`` numbers the rows: a request id delivered twice, or naming two identifiers
    on two rows, is still one line of work per row.
    """
    value, typ = "identifier_value", "lower(trim(identifier_type))"
    qualified_open_id = (
        f"coalesce(nullif(lower(trim(split_part({value}, ':', 1))), ''), 'unknown') || ':' || "
        f"nullif(trim(substr({value}, strpos({value}, ':') + 1)), '')"
    )
    cases = [
        f"when 'email' then {normalise_sql('email', value)}",
        f"when 'phone' then {normalise_sql('phone', value)}",
        f"when 'open_id' then case when contains({value}, ':') then {qualified_open_id} "
        f"else nullif(trim({value}), '') end",
        *(f"when {_literal(t)} then {normalise_sql(t, value)}" for t in ID_TYPES),
    ]
    zero_placeholder = (
        "replace(replace(replace(replace(replace(r.identifier_value, '0', ''), '-', ''), '.', ''), ':', ''), ' ', '')"
        " = ''"
    )
    return f"""
        with requests as (
            select
                row_number() over (order by request_id, _source_file, _source_row) as request_key,
                request_id, requested_at, {typ} as identifier_type,
                case {typ} {' '.join(cases)} end as identifier_value,
                _source_file
            from raw.erasure_requests
        )
        select r.*,
            case
                when r.identifier_type not in ({', '.join(_literal(t) for t in REQUEST_TYPES)}) then 'invalid'
                when r.identifier_value is null then 'invalid'
                when {zero_placeholder} or exists (
                    select 1 from {scope}seeds.identity_junk_values as j
                    where lower(j.identifier_value) = lower(r.identifier_value)
                        and (j.identifier_type = r.identifier_type or j.identifier_type = '*')
                ) then 'junk_value'
                else 'pending'
            end as status
        from requests as r
    """


def resolve_scope(con: duckdb.DuckDBPyConnection, scope: str = SCOPE_PREFIX) -> None:
    """From the scratch identity tables, the temp tables that say what to erase, per request row.

    ``_erasure_requests``     request, normalised identifier, status
    ``_erasure_matches``      identifiers of the graph the request names (bare open ids: any platform)
    ``_erasure_clusters``     clusters owning a requested identifier (linked or attached to it)
    ``_erasure_identifiers``  every identifier of those clusters, plus the requested one when no
                              record carries it (a no-match request still suppresses future rows)
    ``_erasure_records``      header records (staging model, record id) to erase
    ``_erasure_customers``    customer ids earlier runs minted for the person
    """
    intermediate = f"{scope}intermediate"
    con.execute(f"create or replace temp table _erasure_requests as {_requests_sql(scope)}")
    con.execute(f"""
        create or replace temp table _erasure_matches as
        select r.request_key, c.identifier_type, c.identifier_value, c.cluster_id, c.resolution
        from _erasure_requests as r
        inner join {intermediate}.int_identifiers_clustered as c
            on c.identifier_type = r.identifier_type
            and (c.identifier_value = r.identifier_value
                or (r.identifier_type = 'open_id' and not contains(r.identifier_value, ':')
                    and ends_with(c.identifier_value, ':' || r.identifier_value)))
        where r.status = 'pending'
    """)
    # a requested value the graph flags as junk (a cashier's placeholder) identifies nobody
    con.execute("""
        update _erasure_requests set status = 'junk_value'
        where status = 'pending' and request_key in (select request_key from _erasure_matches where resolution = 'junk')
    """)
    con.execute("""
        create or replace temp table _erasure_clusters as
        select distinct m.request_key, m.cluster_id
        from _erasure_matches as m
        inner join _erasure_requests as r on r.request_key = m.request_key and r.status = 'pending'
        where m.cluster_id is not null and m.resolution in ('linked', 'attached')
    """)
    con.execute("""
        update _erasure_requests set status = case
            when request_key in (select request_key from _erasure_clusters) then 'erased'
            when request_key in (select request_key from _erasure_matches) then 'shared_identifier'
            else 'no_match' end
        where status = 'pending'
    """)
    con.execute(f"""
        create or replace temp table _erasure_identifiers as
        select distinct k.request_key, c.identifier_type, c.identifier_value
        from _erasure_clusters as k
        inner join {intermediate}.int_identifiers_clustered as c on c.cluster_id = k.cluster_id
        union
        -- never seen: suppressed from now on. A shared (ambiguous) value is not: it is someone else's too
        select request_key, identifier_type, identifier_value
        from _erasure_requests
        where status = 'no_match'
    """)
    con.execute(f"""
        create or replace temp table _erasure_records as
        select distinct k.request_key, rc.source_model, rc.record_id
        from _erasure_clusters as k
        inner join {intermediate}.int_records_clustered as rc on rc.cluster_id = k.cluster_id
        union
        -- records that carry the requested value and belong to no customer (a shared mailbox's
        -- own messages); records of other customers that carry it too are theirs, and stay
        select m.request_key, ic.source_model, ic.record_id
        from _erasure_matches as m
        inner join _erasure_requests as r on r.request_key = m.request_key
            and r.status in ('erased', 'shared_identifier')
        inner join {intermediate}.int_identifiers_collected as ic
            on ic.identifier_type = m.identifier_type and ic.identifier_value = m.identifier_value
        inner join {intermediate}.int_records_clustered as rc
            on rc.source_model = ic.source_model and rc.record_id = ic.record_id
        where rc.cluster_id is null
    """)
    # customer ids minted for the person by earlier runs: current, retired, and merged into them
    con.execute("create or replace temp table _erasure_customers (request_key bigint, customer_id varchar)")
    if _exists(con, "intermediate", "int_customer_anchors_assigned"):
        con.execute("""
            insert into _erasure_customers
            with direct as (
                select distinct i.request_key, a.customer_id
                from _erasure_identifiers as i
                inner join intermediate.int_customer_anchors_assigned as a
                    on a.anchor_identifier_type = i.identifier_type
                    and a.anchor_identifier_value = i.identifier_value
            )
            select * from direct
            union
            select d.request_key, a.customer_id
            from direct as d
            inner join intermediate.int_customer_anchors_assigned as a on a.current_customer_id = d.customer_id
        """)


# --------------------------------------------------------------------------- applying the scope


def _source_of_model(model: str) -> str | None:
    """``stg_<source>__<entity>`` → ``<source>``."""
    match = re.match(r"^stg_(.+?)__", model)
    return match.group(1) if match and match.group(1) in SOURCES else None


def apply_scope(con: duckdb.DuckDBPyConnection) -> ErasureOutcome:
    """Erase what :func:`resolve_scope` found, and record the requests, in ONE transaction.

    A crash leaves everything as it was, requests included, and the next run starts over.
    """
    outcome = ErasureOutcome()
    con.execute("begin transaction")
    try:
        outcome.tombstones_added = _add_tombstones(con)
        con.execute(
            "create or replace temp table _erase_rows (source varchar, _source_file varchar, _source_row bigint)"
        )
        models = [m for (m,) in con.execute("select distinct source_model from _erasure_records").fetchall()]
        for source, contract in SOURCES.items():
            if not _exists(con, "raw", source):
                continue
            key = contract.natural_key[0]
            source_models = [m for m in models if _source_of_model(m) == source]
            if source_models:
                con.execute(
                    f"insert into _erase_rows select distinct ?, r._source_file, r._source_row from raw.{source} as r "
                    f'inner join _erasure_records as e on e.record_id = trim(r."{key}") '
                    "and list_contains(?, e.source_model)",
                    [source, source_models],
                )
            con.execute(
                f"insert into _erase_rows select ?, _source_file, _source_row from "
                f"({tombstoned_rows_sql(contract, f'raw.{source}', ['_source_file', '_source_row'])})",
                [source],
            )
            outcome.erased_values |= _raw_values(con, source, contract)
            erased = con.execute(
                f"delete from raw.{source} as r using (select distinct _source_file, _source_row from _erase_rows "
                "where source = ?) as e where r._source_file = e._source_file and r._source_row = e._source_row",
                [source],
            ).fetchone()[0]
            if erased:
                outcome.raw_rows[source] = int(erased)
        # rejected lines: their text is all there is to match
        con.execute(
            "create or replace temp table _erase_rejects as select rowid as rid, source, source_file "
            f"from raw.rejected_rows where rowid in ({tombstoned_text_sql('raw.rejected_rows', 'rowid', 'raw_text')})"
        )
        outcome.rejected_rows = int(con.execute(
            "delete from raw.rejected_rows where rowid in (select rid from _erase_rejects)"
        ).fetchone()[0])
        outcome.files_touched = _update_manifest(con)
        _invalidate_validations(con)
        outcome.customer_ids_forgotten = _forget_customer_ids(con)
        outcome.erased_values |= {v for (v,) in con.execute(
            "select distinct identifier_value from _erasure_identifiers where length(identifier_value) >= 5"
        ).fetchall()}
        outcome.requests, outcome.request_rows = _log_requests(con)
        con.execute("commit")
    except Exception:
        con.execute("rollback")
        raise
    return outcome


def _add_tombstones(con: duckdb.DuckDBPyConnection) -> int:
    before = con.execute("select count(*) from raw.erasure_tombstones").fetchone()[0]
    con.execute(f"""
        insert into raw.erasure_tombstones
        with keyed as (
            select request_key, identifier_type, identifier_value from _erasure_identifiers
            union all
            -- the bare open id, for text that carries it without its platform
            select request_key, '{OPEN_ID_VALUE}', substr(identifier_value, strpos(identifier_value, ':') + 1)
            from _erasure_identifiers where identifier_type = 'open_id'
            union all
            select request_key, '{CUSTOMER_ID}', customer_id from _erasure_customers
        ),
        wanted as (
            select r.request_id, k.identifier_type, k.identifier_value
            from keyed as k inner join _erasure_requests as r using (request_key)
        ),
        hashed as (
            select identifier_type, {hash_sql('identifier_type', 'identifier_value')} as identifier_hash,
                min(request_id) as request_id
            from wanted where identifier_value is not null
            group by all
        )
        select h.identifier_type, h.identifier_hash, h.request_id, current_timestamp::timestamp
        from hashed as h
        anti join raw.erasure_tombstones as t
            on t.identifier_type = h.identifier_type and t.identifier_hash = h.identifier_hash
    """)
    return int(con.execute("select count(*) from raw.erasure_tombstones").fetchone()[0] - before)


def _raw_values(con: duckdb.DuckDBPyConnection, source: str, contract: SourceContract) -> set[str]:
    """The identifier values, as written, of the rows about to go (for scrubbing documents)."""
    columns = [c for _, c in identifier_columns(contract)]
    if not columns:
        return set()
    union = " union ".join(
        f'select trim(r."{c}") as v from raw.{source} as r inner join _erase_rows as e on e.source = ? '
        f"and r._source_file = e._source_file and r._source_row = e._source_row"
        for c in columns
    )
    rows = con.execute(f"select distinct v from ({union}) where length(v) >= 5", [source] * len(columns)).fetchall()
    return {v for (v,) in rows}


def _update_manifest(con: duckdb.DuckDBPyConnection) -> int:
    """Move erased rows from loaded / rejected to erased in each file's current manifest row."""
    con.execute("""
        create or replace temp table _erased_counts as
        select source, file_name, sum(loaded) as loaded, sum(rejected) as rejected
        from (
            select source, _source_file as file_name, count(*) as loaded, 0 as rejected
            from (select distinct * from _erase_rows) group by all
            union all
            select source, source_file, 0, count(*) from _erase_rejects group by all
        )
        group by all
    """)
    for match in ("m.file_name = c.file_name and m.status not in ('duplicate', 'refused')",
                  # a duplicate delivery mirrors the counts of the file it duplicates
                  "m.duplicate_of = c.file_name and m.status = 'duplicate'"):
        con.execute(f"""
            update raw.load_manifest as m set
                rows_loaded = m.rows_loaded - c.loaded,
                rows_rejected = m.rows_rejected - c.rejected,
                rows_erased = m.rows_erased + c.loaded + c.rejected,
                -- nothing left to validate: not a 'loaded' file any more (GX would read an empty delivery)
                status = case when m.rows_loaded - c.loaded = 0 and m.status in ('loaded', 'replaced')
                    then 'erased' else m.status end
            from _erased_counts as c
            where m.source = c.source and m.is_current and {match}
        """)
    return int(con.execute("select count(*) from _erased_counts").fetchone()[0])


def _invalidate_validations(con: duckdb.DuckDBPyConnection) -> None:
    """Cached GX verdicts quote sample values: drop the samples, keep the volume baseline.

    The verdict's hash no longer matches any suite, so the file is validated again on the
    next check (on its remaining rows, against the same baseline as before).
    """
    if not _exists(con, "raw", "gx_validation_results"):
        return
    con.execute("""
        update raw.gx_validation_results as v set suite_hash = 'invalidated by erasure', result = '{}', docs_url = null
        from _erased_counts as c
        where v.source = c.source and v.file_name = c.file_name
    """)


def _forget_customer_ids(con: duckdb.DuckDBPyConnection) -> int:
    """Identity state must not remember the person: their ids would reappear as retired ids."""
    if not _exists(con, "intermediate", "int_customer_anchors_assigned"):
        return 0
    ids = "(select customer_id from _erasure_customers)"
    return int(con.execute(
        f"delete from intermediate.int_customer_anchors_assigned where customer_id in {ids} "
        f"or current_customer_id in {ids}"
    ).fetchone()[0])


def _log_requests(con: duckdb.DuckDBPyConnection) -> tuple[list[RequestOutcome], int]:
    """One log line per request (hash, never the value); the request rows leave raw."""
    messages = {
        "erased": "every record of the customer owning the identifier was erased",
        "no_match": "no record carries the identifier; rows carrying it will be dropped when they arrive",
        "shared_identifier": "the identifier is shared by several customers: only records that belong to "
        "no other customer were erased, and the value is not suppressed",
        "junk_value": "a placeholder value (identity_junk_values) identifies nobody: nothing erased",
        "invalid": "unknown identifier type, or a value that is not a valid identifier of that type",
    }
    con.execute(f"""
        create or replace temp table _erasure_outcomes as
        select r.request_id, r.requested_at, r.identifier_type,
            case when r.identifier_value is not null then {hash_sql('r.identifier_type', 'r.identifier_value')} end
                as identifier_hash,
            r.status, r._source_file,
            (select count(distinct customer_id) from _erasure_customers as c where c.request_key = r.request_key)
                as customers,
            (select count(*) from _erasure_identifiers as i where i.request_key = r.request_key) as identifiers,
            (select count(*) from _erasure_records as e where e.request_key = r.request_key) as records
        from _erasure_requests as r
    """)
    rows = con.execute(
        "select request_id, identifier_type, status, customers, identifiers, records from _erasure_outcomes "
        "order by request_id"
    ).fetchall()
    outcomes = [RequestOutcome(rid, typ, status, messages[status], int(c), int(i), int(n))
                for rid, typ, status, c, i, n in rows]
    con.execute("create or replace temp table _status_messages (status varchar, message varchar)")
    con.executemany("insert into _status_messages values (?, ?)", list(messages.items()))
    con.execute("""
        insert into raw.erasure_log
        select o.request_id, o.requested_at, o.identifier_type, o.identifier_hash, o.status, m.message,
            o.customers, o.identifiers, o.records, o._source_file, current_timestamp::timestamp
        from _erasure_outcomes as o left join _status_messages as m using (status)
    """)
    counts = con.execute(
        "select _source_file, count(*) from raw.erasure_requests group by 1"
    ).fetchall()
    for file_name, n in counts:
        con.execute(
            "update raw.load_manifest set rows_loaded = rows_loaded - ?, rows_erased = rows_erased + ?, "
            "status = case when rows_loaded - ? = 0 and status in ('loaded', 'replaced') then 'erased' else status end "
            "where source = 'erasure_requests' and is_current and (file_name = ? or duplicate_of = ?)",
            [n, n, n, file_name, file_name],
        )
    deleted = con.execute("delete from raw.erasure_requests").fetchone()[0]
    return outcomes, int(deleted)


# --------------------------------------------------------------------------- files outside the warehouse

EXPORT_SUFFIXES = (".csv", ".parquet", ".jsonl")


def scrub_exports(con: duckdb.DuckDBPyConnection, exports_dir: Path) -> dict[str, int]:
    """Remove, from every export file, the rows that carry a tombstoned value; returns rows removed per file.

    The hook for audience exports: call it after writing an export (and the erasure step calls
    it whenever it runs), so a file written before someone was erased loses their rows. Every
    value of every column is tried as each identifier type (exports have no fixed schema);
    a file is rewritten (atomically: temp file, then rename) only when rows go.
    """
    if not exports_dir.is_dir() or not has_tombstones(con):
        return {}
    removed: dict[str, int] = {}
    for path in sorted(p for p in exports_dir.rglob("*") if p.is_file() and p.suffix.lower() in EXPORT_SUFFIXES):
        n = _scrub_file(con, path)
        if n:
            removed[str(path.relative_to(exports_dir))] = n
            log.info("erasure: %d row(s) removed from export %s", n, path)
    return removed


def _scrub_file(con: duckdb.DuckDBPyConnection, path: Path) -> int:
    suffix = path.suffix.lower()
    reader = {
        ".csv": "read_csv($path, all_varchar = true, header = true)",
        ".parquet": "read_parquet($path)",
        ".jsonl": "read_json($path, format = 'newline_delimited')",
    }[suffix]
    con.execute(
        f"create or replace temp table _export as select row_number() over () as _export_row, * from {reader}",
        {"path": str(path)},
    )
    if con.execute("select count(*) from _export").fetchone()[0] == 0:
        return 0
    con.execute(
        "create or replace temp table _export_values as select _export_row, value from "
        "(unpivot (select _export_row, columns(* exclude _export_row)::varchar from _export) "
        "on columns(* exclude _export_row) into name col value value)"
    )
    types = [t for (t,) in con.execute("select distinct identifier_type from raw.erasure_tombstones").fetchall()]
    tries = " union all ".join(
        f"select _export_row, '{t}' as identifier_type, {normalise_sql(t, 'value')} as identifier_value "
        "from _export_values"
        for t in types if t in (*REQUEST_TYPES, CUSTOMER_ID, OPEN_ID_VALUE)
    )
    con.execute(f"""
        create or replace temp table _export_hits as
        select distinct x._export_row from ({tries}) as x
        inner join raw.erasure_tombstones as t on t.identifier_type = x.identifier_type
            and t.identifier_hash = {hash_sql('x.identifier_type', 'x.identifier_value')}
        where x.identifier_value is not null
    """)
    hits = int(con.execute("select count(*) from _export_hits").fetchone()[0])
    if not hits:
        return 0
    tmp = path.with_name(f".{path.name}.scrub")
    fmt = {".csv": "(format csv, header true)", ".parquet": "(format parquet)", ".jsonl": "(format json)"}[suffix]
    con.execute(
        f"copy (select * exclude _export_row from _export where _export_row not in (select _export_row from "
        f"_export_hits) order by _export_row) to '{_escape_path(tmp)}' {fmt}"
    )
    os.replace(tmp, path)
    return hits


def _escape_path(path: Path) -> str:
    return str(path).replace("'", "''")


def scrub_documents(folder: Path, values: Iterable[str]) -> list[Path]:
    """Delete generated documents (GX Data Docs pages and stored results) that quote an erased value.

    They are regenerated by the next validation of the file, now without the person.
    """
    needles = sorted({v for v in values if len(v) >= 5})
    if not folder.is_dir() or not needles:
        return []
    pattern = re.compile("|".join(re.escape(v) for v in needles), re.IGNORECASE)
    deleted = []
    for path in folder.rglob("*"):
        if (path.is_file() and path.suffix.lower() in (".html", ".json")
                and pattern.search(path.read_text(encoding="utf-8", errors="replace"))):
            path.unlink()
            deleted.append(path)
    return deleted
