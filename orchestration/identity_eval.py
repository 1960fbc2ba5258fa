"""Evaluate identity resolution against the simulator's ground truth.

The warehouse says which customer every staging record belongs to
(``intermediate.int_records_resolved``); the simulator knows which person wrote it
(``ground_truth/records.parquet``, keyed by source and natural key). This module joins the
two and reports what record-linkage tools (Splink, recordlinkage) report:

* pairwise precision, recall and F1 over record pairs. Pairs are counted from cluster
  sizes (``n * (n - 1) / 2`` per cell of the person x customer contingency table), never
  enumerated, so the evaluation stays linear in the number of records;
* ground-truth persons split over several customers, and customers merging several persons;
* the cause of every over-merge: which identifier of the merged customer belongs to two of
  its persons in truth (a shared store device, a household e-mail, a junk value).

Evaluation universe: header-grain staging records that carry at least one identifier
(``intermediate.int_records_clustered``; order and transaction lines are counted once, as
their order, and CRM profile versions once, as their member), matched to ground truth by
natural key. Records the warehouse leaves unresolved (junk or ambiguous identifiers only)
count as singletons: they cost recall, never precision.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

log = logging.getLogger(__name__)

#: ground-truth source -> (header-grain staging model, record_key part that is its primary key)
STAGING_MODELS: dict[str, str] = {
    "shop_orders": "stg_shop_orders__orders",
    "pos_transactions": "stg_pos_transactions__transactions",
    "web_events": "stg_web_events__events",
    "app_events": "stg_app_events__events",
    "email_engagement": "stg_email_engagement__events",
    "sms_engagement": "stg_sms_engagement__events",
    "push_engagement": "stg_push_engagement__events",
    "social_interactions": "stg_social_interactions__interactions",
    "crm_profiles": "stg_crm_profiles__members",
    "service_tickets": "stg_service_tickets__tickets",
    "campaign_touches": "stg_campaign_touches__touches",
}
#: sources whose natural key has several parts, the first being the header's primary key
#: (order_id|line_number, transaction_id|line_number, member_id|updated_at)
MULTI_PART_KEYS: tuple[str, ...] = ("shop_orders", "pos_transactions", "crm_profiles")

_TRUTH_SQL = """
create temporary table truth_records as
with records as (
    select distinct
        source,
        case when list_contains($multi_part, source) then split_part(record_key, '|', 1) else record_key end
            as record_id,
        person_id
    from read_parquet($records)
),
models as (
    select unnest($sources) as source, unnest($models) as source_model
),
mapped as (
    select models.source_model, records.record_id, records.person_id
    from records
    inner join models on records.source = models.source
)
select source_model, record_id, min(person_id) as person_id, count(distinct person_id) as person_count
from mapped
group by source_model, record_id
"""

_EVALUATED_SQL = """
create temporary table evaluated as
select
    clustered.source_model,
    clustered.record_id,
    truth_records.person_id,
    resolved.customer_id,
    coalesce(resolved.customer_id, 'unresolved|' || clustered.source_model || '|' || clustered.record_id)
        as predicted_cluster
from intermediate.int_records_clustered as clustered
inner join truth_records
    on clustered.source_model = truth_records.source_model
    and clustered.record_id = truth_records.record_id
left join intermediate.int_records_resolved as resolved
    on clustered.source_model = resolved.source_model
    and clustered.record_id = resolved.record_id
"""

_PAIRS_SQL = """
with cells as (
    select person_id, predicted_cluster, count(*)::hugeint as n from evaluated group by all
),
persons as (select person_id, sum(n) as n from cells group by person_id),
clusters as (select predicted_cluster, sum(n) as n from cells group by predicted_cluster)
select
    (select sum(n * (n - 1) / 2) from cells) as true_positive_pairs,
    (select sum(n * (n - 1) / 2) from clusters) as predicted_pairs,
    (select sum(n * (n - 1) / 2) from persons) as true_pairs
"""

_COUNTS_SQL = """
select
    count(*) as records,
    count(customer_id) as records_resolved,
    count(distinct person_id) as persons,
    count(distinct customer_id) as customers,
    (select count(*) from (
        select person_id from evaluated where customer_id is not null
        group by person_id having count(distinct customer_id) > 1
    )) as persons_split,
    (select count(*) from (
        select customer_id from evaluated where customer_id is not null
        group by customer_id having count(distinct person_id) > 1
    )) as customers_merging_persons
from evaluated
"""

# For each customer holding records of several persons: the identifiers of that customer
# that, in truth, belong to two or more of its persons (they are what linked the persons),
# and how many of its persons have a personal identifier of their own (not shared) in it.
# With two or more such persons the customer joins separate profiles ("bridged"); with one,
# the other persons left no trace but records carrying the shared value itself, or anonymous
# ones tied to it alone, e.g. marketing e-mails to a household mailbox whose second user never
# ordered or gave a phone, or a browser that only ever logged in with that mailbox
# ("trace_only": no data can tell whose those records are).
_MERGE_CAUSES_SQL = """
with merged as (
    select customer_id, person_id
    from evaluated
    where customer_id in (
        select customer_id from evaluated where customer_id is not null
        group by customer_id having count(distinct person_id) > 1
    )
    group by customer_id, person_id
),
customer_identifiers as (
    select
        customer_id,
        identifier_type,
        case when identifier_type = 'open_id' then substr(identifier_value, strpos(identifier_value, ':') + 1)
             else identifier_value end as identifier_value
    from marts.customer_identities
    where customer_id in (select customer_id from merged)
),
truth_identifiers as (
    select identifier_type, identifier_value, person_id, is_shared, is_junk
    from read_parquet($identifiers)
),
owned as (
    select
        customer_identifiers.customer_id,
        customer_identifiers.identifier_type,
        customer_identifiers.identifier_value,
        truth_identifiers.person_id,
        truth_identifiers.is_shared,
        truth_identifiers.is_junk
    from customer_identifiers
    inner join truth_identifiers
        on customer_identifiers.identifier_type = truth_identifiers.identifier_type
        and customer_identifiers.identifier_value = truth_identifiers.identifier_value
    inner join merged
        on customer_identifiers.customer_id = merged.customer_id
        and truth_identifiers.person_id = merged.person_id
),
profiles as (
    select customer_id, count(distinct person_id) as persons_with_own_identifiers
    from owned
    where not is_shared and not is_junk and list_contains($personal_types, identifier_type)
    group by customer_id
),
bridges as (
    select
        customer_id,
        identifier_type,
        bool_or(is_shared) as is_shared,
        bool_or(is_junk) as is_junk
    from owned
    group by customer_id, identifier_type, identifier_value
    having count(distinct person_id) > 1
),
causes as (
    select
        merged_customers.customer_id,
        coalesce(
            max(case when bridges.is_junk then 'junk_' || bridges.identifier_type end),
            max(case when bridges.is_shared and bridges.identifier_type = 'device_id' then 'shared_device' end),
            max(case when bridges.is_shared and bridges.identifier_type = 'email' then 'household_email' end),
            max(case when bridges.is_shared then 'shared_' || bridges.identifier_type end),
            max('identifier_' || bridges.identifier_type),
            'unexplained'
        ) as cause,
        coalesce(max(profiles.persons_with_own_identifiers), 0) >= 2 as is_bridged
    from (select distinct customer_id from merged) as merged_customers
    left join bridges on merged_customers.customer_id = bridges.customer_id
    left join profiles on merged_customers.customer_id = profiles.customer_id
    group by merged_customers.customer_id
)
select
    case when is_bridged then cause else cause || '_trace_only' end as cause,
    count(*) as customers
from causes
group by all
order by customers desc, cause
"""

# The linkable ceiling: identifiers owned (in truth) by exactly one person, linked only when
# they occur together on a record and belong to the same person. Its components are the
# finest partition any deterministic resolver could recover from these records, with
# perfect guards: a cookie that never logged in cannot be anyone's.
_LINKABLE_EDGES_SQL = """
create temporary table owned_nodes as
with owners as (
    select identifier_type, identifier_value, min(person_id) as person_id
    from read_parquet($identifiers)
    group by identifier_type, identifier_value
    having count(distinct person_id) = 1 and not bool_or(is_shared) and not bool_or(is_junk)
)
select indexed.node_id, owners.person_id
from intermediate.int_identifiers_indexed as indexed
inner join owners
    on indexed.identifier_type = owners.identifier_type
    and (
        indexed.identifier_value = owners.identifier_value
        or (indexed.identifier_type = 'open_id'
            and substr(indexed.identifier_value, strpos(indexed.identifier_value, ':') + 1) = owners.identifier_value)
    )
"""

_LINKABLE_SQL = """
create temporary table linkable as
with record_components as (
    select
        collected.source_model,
        collected.record_id,
        min(node_components.component) as component
    from intermediate.int_identifiers_collected as collected
    inner join intermediate.int_identifiers_indexed as indexed
        on collected.identifier_type = indexed.identifier_type
        and collected.identifier_value = indexed.identifier_value
    inner join node_components
        on indexed.node_id = node_components.node_id
    group by collected.source_model, collected.record_id
)
select
    evaluated.*,
    coalesce(
        cast(record_components.component as varchar),
        'alone|' || evaluated.source_model || '|' || evaluated.record_id
    ) as linkable_cluster
from evaluated
left join record_components
    on evaluated.source_model = record_components.source_model
    and evaluated.record_id = record_components.record_id
"""

_LINKABLE_PAIRS_SQL = """
with cells as (
    select linkable_cluster, predicted_cluster, count(*)::hugeint as n from linkable group by all
),
linkable_clusters as (select linkable_cluster, sum(n) as n from cells group by linkable_cluster)
select
    (select sum(n * (n - 1) / 2) from cells) as found_pairs,
    (select sum(n * (n - 1) / 2) from linkable_clusters) as linkable_pairs
"""

# The identified universe: records a perfect resolver would put in a profile that names a
# person, i.e. whose linkable component (above) holds a personal identifier (e-mail, phone,
# account, membership, card, open id). What is left out are anonymous visitors: cookies and
# app devices that never logged in, which no deterministic resolver can attribute and which
# CDPs keep as anonymous profiles. The universe comes from the data and ground truth, never
# from the resolver under test, so a resolver cannot improve its score by leaving records out.
_IDENTIFIED_PAIRS_SQL = """
with identified_components as (
    select distinct cast(node_components.component as varchar) as linkable_cluster
    from node_components
    inner join intermediate.int_identifiers_indexed as indexed
        on node_components.node_id = indexed.node_id
    where list_contains($personal_types, indexed.identifier_type)
),
universe as (
    select linkable.*
    from linkable
    inner join identified_components
        on linkable.linkable_cluster = identified_components.linkable_cluster
),
cells as (
    select person_id, predicted_cluster, count(*)::hugeint as n from universe group by all
),
persons as (select person_id, sum(n) as n from cells group by person_id),
clusters as (select predicted_cluster, sum(n) as n from cells group by predicted_cluster)
select
    (select count(*) from universe) as records,
    (select sum(n * (n - 1) / 2) from cells) as true_positive_pairs,
    (select sum(n * (n - 1) / 2) from clusters) as predicted_pairs,
    (select sum(n * (n - 1) / 2) from persons) as true_pairs
"""

#: identifier types that name a person (dbt var identity_personal_identifier_types)
PERSONAL_IDENTIFIER_TYPES: tuple[str, ...] = (
    "email",
    "phone",
    "account_id",
    "member_id",
    "loyalty_card_number",
    "open_id",
)

_BY_SOURCE_SQL = """
select
    source_model,
    count(*) as records,
    count(customer_id) as records_resolved
from evaluated
group by source_model
order by source_model
"""


@dataclass
class IdentityEvaluation:
    """Pairwise and cluster-level quality of identity resolution against ground truth."""

    records: int
    records_resolved: int
    persons: int
    customers: int
    true_pairs: int
    predicted_pairs: int
    true_positive_pairs: int
    persons_split: int
    customers_merging_persons: int
    #: over-merged customers by cause: shared_device, household_email, junk_<type>, ...; the
    #: suffix _trace_only marks customers where only one person has identifiers of their own
    merge_causes: dict[str, int] = field(default_factory=dict)
    #: per staging model: (records evaluated, records resolved)
    by_source: dict[str, tuple[int, int]] = field(default_factory=dict)
    #: staging records with identifiers that ground truth does not know (should be 0)
    records_without_truth: int = 0
    #: pairs of records linkable from the data at all (see _LINKABLE_EDGES_SQL), and how
    #: many of them the warehouse put together
    linkable_pairs: int = 0
    found_linkable_pairs: int = 0
    #: the same pairwise counts over the identified universe (see _IDENTIFIED_PAIRS_SQL)
    identified_records: int = 0
    identified_true_pairs: int = 0
    identified_predicted_pairs: int = 0
    identified_true_positive_pairs: int = 0

    @property
    def identified_precision(self) -> float:
        return (
            self.identified_true_positive_pairs / self.identified_predicted_pairs
            if self.identified_predicted_pairs
            else 1.0
        )

    @property
    def identified_recall(self) -> float:
        return self.identified_true_positive_pairs / self.identified_true_pairs if self.identified_true_pairs else 1.0

    @property
    def identified_f1(self) -> float:
        p, r = self.identified_precision, self.identified_recall
        return 2 * p * r / (p + r) if p + r else 0.0

    @property
    def linkable_recall(self) -> float:
        """Recall against what the data allows: linkable pairs the resolver put together."""
        return self.found_linkable_pairs / self.linkable_pairs if self.linkable_pairs else 1.0

    @property
    def ceiling_recall(self) -> float:
        """Pairwise recall of a perfect deterministic resolver (perfect guards) on these records."""
        return self.linkable_pairs / self.true_pairs if self.true_pairs else 1.0

    @property
    def ceiling_f1(self) -> float:
        """F1 of that perfect resolver (its precision is 1)."""
        r = self.ceiling_recall
        return 2 * r / (1 + r)

    @property
    def precision(self) -> float:
        return self.true_positive_pairs / self.predicted_pairs if self.predicted_pairs else 1.0

    @property
    def recall(self) -> float:
        return self.true_positive_pairs / self.true_pairs if self.true_pairs else 1.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    @property
    def shared_identifier_merges(self) -> int:
        """Customers joining two persons' own profiles through a shared device or household e-mail."""
        return self.merge_causes.get("shared_device", 0) + self.merge_causes.get("household_email", 0)

    @property
    def shared_identifier_traces(self) -> int:
        """Customers that received a shared value's records of a person who left no other trace."""
        return self.merge_causes.get("shared_device_trace_only", 0) + self.merge_causes.get(
            "household_email_trace_only", 0
        )

    def as_dict(self) -> dict[str, object]:
        out = asdict(self)
        out.update(
            precision=self.precision,
            recall=self.recall,
            f1=self.f1,
            shared_identifier_merges=self.shared_identifier_merges,
            shared_identifier_traces=self.shared_identifier_traces,
            linkable_recall=self.linkable_recall,
            ceiling_recall=self.ceiling_recall,
            ceiling_f1=self.ceiling_f1,
            identified_precision=self.identified_precision,
            identified_recall=self.identified_recall,
            identified_f1=self.identified_f1,
        )
        return out

    def to_text(self) -> str:
        """A short human-readable report (what ``c360 evaluate-identity`` prints)."""
        resolved_share = self.records_resolved / max(self.records, 1)
        lines = [
            "Identity resolution vs ground truth",
            f"  records evaluated        {self.records:>12,}  (header grain, with at least one identifier)",
            f"  records resolved         {self.records_resolved:>12,}  ({resolved_share:.2%})",
            f"  persons (truth)          {self.persons:>12,}",
            f"  customers (resolved)     {self.customers:>12,}",
            "",
            f"  pairwise precision       {self.precision:>12.5f}",
            f"  pairwise recall          {self.recall:>12.5f}",
            f"  pairwise F1              {self.f1:>12.5f}",
            f"  (pairs: true {self.true_pairs:,}, predicted {self.predicted_pairs:,}, "
            f"correct {self.true_positive_pairs:,})",
            "",
            "  ceiling: a perfect deterministic resolver on these records (perfect guards; records",
            "  that share no identifier with the rest of their person cannot be linked by anyone)",
            f"  ceiling recall / F1      {self.ceiling_recall:>12.5f} / {self.ceiling_f1:.5f}",
            f"  recall of linkable pairs {self.linkable_recall:>12.5f}",
            "",
            "  identified universe: records a perfect resolver would tie to a personal identifier",
            "  (e-mail, phone, account, membership, card, open id); anonymous visitors left out",
            f"  records                  {self.identified_records:>12,}  "
            f"({self.identified_records / max(self.records, 1):.2%} of evaluated)",
            f"  precision / recall / F1  {self.identified_precision:>12.5f} / {self.identified_recall:.5f} / "
            f"{self.identified_f1:.5f}",
            "",
            f"  persons split            {self.persons_split:>12,}  (resolved records over 2+ customers)",
            f"  customers merging persons{self.customers_merging_persons:>12,}",
            f"  ... joining two profiles through a shared device / household e-mail: {self.shared_identifier_merges:,}",
            f"  ... adding a traceless person's shared-value records (undetectable): {self.shared_identifier_traces:,}",
        ]
        for cause, n in self.merge_causes.items():
            lines.append(f"      {cause:<28} {n:>8,}")
        if self.records_without_truth:
            lines.append(f"  records without ground truth: {self.records_without_truth:,}")
        lines.append("")
        lines.append("  resolved share by staging model")
        for model, (n, resolved) in self.by_source.items():
            lines.append(f"    {model:<40} {resolved:>10,} / {n:>10,}  ({resolved / max(n, 1):.2%})")
        return "\n".join(lines)


def evaluate_identity(warehouse: Path, ground_truth: Path) -> IdentityEvaluation:
    """Compare the warehouse's resolved customers with the simulator's persons.

    ``warehouse`` is a DuckDB file built by dbt (opened read-only); ``ground_truth`` the
    simulator's ``ground_truth`` folder with ``records.parquet`` and ``identifiers.parquet``.
    """
    records_path = ground_truth / "records.parquet"
    identifiers_path = ground_truth / "identifiers.parquet"
    for path in (warehouse, records_path, identifiers_path):
        if not path.exists():
            raise FileNotFoundError(path)
    with duckdb.connect(str(warehouse), read_only=True) as con:
        con.execute(
            _TRUTH_SQL,
            {
                "records": str(records_path),
                "sources": list(STAGING_MODELS),
                "models": list(STAGING_MODELS.values()),
                "multi_part": list(MULTI_PART_KEYS),
            },
        )
        conflicting = con.execute("select count(*) from truth_records where person_count > 1").fetchone()[0]
        if conflicting:
            log.warning("%d records belong to several persons in ground truth; the smallest id is used", conflicting)
        con.execute(_EVALUATED_SQL)
        without_truth = con.execute(
            "select count(*) from intermediate.int_records_clustered as c "
            "anti join truth_records as t on c.source_model = t.source_model and c.record_id = t.record_id"
        ).fetchone()[0]
        if without_truth:
            log.warning("%d staging records with identifiers are not in ground truth", without_truth)
        tp, predicted, true = con.execute(_PAIRS_SQL).fetchone()
        counts = con.execute(_COUNTS_SQL).fetchone()
        causes = con.execute(
            _MERGE_CAUSES_SQL,
            {"identifiers": str(identifiers_path), "personal_types": list(PERSONAL_IDENTIFIER_TYPES)},
        ).fetchall()
        by_source = con.execute(_BY_SOURCE_SQL).fetchall()
        found_linkable, linkable = _linkable_pairs(con, identifiers_path)
        identified = con.execute(_IDENTIFIED_PAIRS_SQL, {"personal_types": list(PERSONAL_IDENTIFIER_TYPES)}).fetchone()
    records, resolved, persons, customers, split, merging = counts
    return IdentityEvaluation(
        records=int(records),
        records_resolved=int(resolved),
        persons=int(persons),
        customers=int(customers),
        true_pairs=int(true or 0),
        predicted_pairs=int(predicted or 0),
        true_positive_pairs=int(tp or 0),
        persons_split=int(split),
        customers_merging_persons=int(merging),
        merge_causes={cause: int(n) for cause, n in causes},
        by_source={model: (int(n), int(r)) for model, n, r in by_source},
        records_without_truth=int(without_truth),
        linkable_pairs=int(linkable or 0),
        found_linkable_pairs=int(found_linkable or 0),
        identified_records=int(identified[0] or 0),
        identified_true_positive_pairs=int(identified[1] or 0),
        identified_predicted_pairs=int(identified[2] or 0),
        identified_true_pairs=int(identified[3] or 0),
    )


def _linkable_pairs(con: duckdb.DuckDBPyConnection, identifiers_path: Path) -> tuple[int, int]:
    """Pairs linkable from the data, and how many the warehouse found (needs ``evaluated``).

    Connected components of the truth-consistent links run in scipy: this is the yardstick,
    so it must not share code with the SQL under test.
    """
    con.execute(_LINKABLE_EDGES_SQL, {"identifiers": str(identifiers_path)})
    nodes = con.execute("select node_id from owned_nodes order by node_id").fetchnumpy()["node_id"]
    edges = con.execute(
        "select links.node_id, links.neighbour_node_id "
        "from intermediate.int_identifier_links_observed as links "
        "inner join owned_nodes as a on links.node_id = a.node_id "
        "inner join owned_nodes as b on links.neighbour_node_id = b.node_id "
        "where a.person_id = b.person_id"
    ).fetchnumpy()
    position = {int(node): i for i, node in enumerate(nodes)}
    rows = np.fromiter((position[int(n)] for n in edges["node_id"]), dtype=np.int64, count=len(edges["node_id"]))
    cols = np.fromiter(
        (position[int(n)] for n in edges["neighbour_node_id"]), dtype=np.int64, count=len(edges["neighbour_node_id"])
    )
    graph = coo_matrix((np.ones(len(rows), dtype=np.int8), (rows, cols)), shape=(len(nodes), len(nodes)))
    _, labels = connected_components(graph, directed=False)
    con.register("node_components_frame", pa.table({"node_id": nodes, "component": labels.astype(np.int64)}))
    con.execute("create temporary table node_components as select * from node_components_frame")
    con.unregister("node_components_frame")
    con.execute(_LINKABLE_SQL)
    found, linkable = con.execute(_LINKABLE_PAIRS_SQL).fetchone()
    return int(found or 0), int(linkable or 0)


def run_evaluate_identity(warehouse: Path, ground_truth: Path) -> int:
    """CLI entry (``c360 evaluate-identity``): print the evaluation; exit code 0.

    The exit code does not depend on the figures: targets belong to tests, not to a report.
    """
    result = evaluate_identity(warehouse, ground_truth)
    print(result.to_text())
    return 0
