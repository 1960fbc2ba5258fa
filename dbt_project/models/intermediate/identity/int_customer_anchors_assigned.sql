{#-
    The state that keeps customer ids stable across runs: one row per customer id ever
    minted, with its anchor identifier. Incremental on purpose (and protected from
    --full-refresh): each run reads the previous assignments from this table.

    Per cluster of int_identifiers_clustered:
    1. previous current anchors found in the cluster: the one whose anchor identifier
       was seen first survives (ties: smallest customer id) and keeps its id; the others
       are retired as 'merged' into it;
    2. a cluster without a previous anchor gets a new one: its best identifier by
       (linking key before attached value, type priority [identity_type_priority],
       first seen, type, value), and the id 'cus_' + salted md5 of that identifier
       (macro identity_customer_id), or the id an earlier run gave that same anchor;
    3. previous anchors found in no cluster (the identifier was deleted, or became junk
       or ambiguous) are retired as 'anchor_unresolved'.
    A rerun on the same data finds exactly one previous anchor per cluster, so it
    rewrites the same rows: the assignment converges after one run.
    Retired rows keep current_customer_id up to date (the customer whose cluster holds
    the retired anchor now), so chains of merges resolve to the live id.
-#}
{{
    config(
        materialized='incremental',
        unique_key='customer_id',
        incremental_strategy='delete+insert',
        full_refresh=false,
        on_schema_change='fail',
    )
}}

{%- set run_started = "cast('" ~ run_started_at.strftime('%Y-%m-%d %H:%M:%S') ~ "' as " ~ dbt.type_timestamp() ~ ")" %}

with

identifiers_clustered as (

    select * from {{ ref('int_identifiers_clustered') }}
    where cluster_id is not null

),

previous_assignments as (

    {% if is_incremental() -%}
    select
        customer_id,
        anchor_identifier_type,
        anchor_identifier_value,
        anchor_first_seen_at,
        is_current,
        current_customer_id,
        change_reason,
        assigned_at,
        retired_at
    from {{ this }}
    {%- else -%}
    select
        cast(null as {{ dbt.type_string() }}) as customer_id,
        cast(null as {{ dbt.type_string() }}) as anchor_identifier_type,
        cast(null as {{ dbt.type_string() }}) as anchor_identifier_value,
        cast(null as {{ dbt.type_timestamp() }}) as anchor_first_seen_at,
        cast(null as {{ dbt.type_boolean() }}) as is_current,
        cast(null as {{ dbt.type_string() }}) as current_customer_id,
        cast(null as {{ dbt.type_string() }}) as change_reason,
        cast(null as {{ dbt.type_timestamp() }}) as assigned_at,
        cast(null as {{ dbt.type_timestamp() }}) as retired_at
    where 1 = 0
    {%- endif %}

),

located_assignments as (

    select
        previous_assignments.*,
        identifiers_clustered.cluster_id as located_cluster_id,
        identifiers_clustered.first_seen_at as located_first_seen_at
    from previous_assignments
    left join identifiers_clustered
        on previous_assignments.anchor_identifier_type = identifiers_clustered.identifier_type
        and previous_assignments.anchor_identifier_value = identifiers_clustered.identifier_value

),

ranked_survivors as (

    select
        located_assignments.*,
        row_number() over (
            partition by located_cluster_id
            order by located_first_seen_at, customer_id
        ) as survivor_rank
    from located_assignments
    where is_current
        and located_cluster_id is not null

),

surviving_anchors as (

    select
        customer_id,
        anchor_identifier_type,
        anchor_identifier_value,
        located_first_seen_at as anchor_first_seen_at,
        located_cluster_id as cluster_id,
        assigned_at
    from ranked_survivors
    where survivor_rank = 1

),

anchor_candidates as (

    select
        identifiers_clustered.*,
        row_number() over (
            partition by identifiers_clustered.cluster_id
            order by
                case when identifiers_clustered.resolution = 'linked' then 0 else 1 end,
                {{ identity_type_priority('identifiers_clustered.identifier_type') }},
                identifiers_clustered.first_seen_at,
                identifiers_clustered.identifier_type,
                identifiers_clustered.identifier_value
        ) as anchor_rank
    from identifiers_clustered
    left join surviving_anchors
        on identifiers_clustered.cluster_id = surviving_anchors.cluster_id
    where surviving_anchors.cluster_id is null

),

new_anchors as (

    select
        coalesce(
            previous_assignments.customer_id,
            {{ identity_customer_id('anchor_candidates.identifier_type', 'anchor_candidates.identifier_value') }}
        ) as customer_id,
        anchor_candidates.identifier_type as anchor_identifier_type,
        anchor_candidates.identifier_value as anchor_identifier_value,
        anchor_candidates.first_seen_at as anchor_first_seen_at,
        anchor_candidates.cluster_id,
        coalesce(previous_assignments.assigned_at, {{ run_started }}) as assigned_at
    from anchor_candidates
    left join previous_assignments
        on anchor_candidates.identifier_type = previous_assignments.anchor_identifier_type
        and anchor_candidates.identifier_value = previous_assignments.anchor_identifier_value
    where anchor_candidates.anchor_rank = 1

),

current_anchors as (

    select * from surviving_anchors
    union all
    select * from new_anchors

),

current_rows as (

    select
        customer_id,
        anchor_identifier_type,
        anchor_identifier_value,
        anchor_first_seen_at,
        cluster_id,
        true as is_current,
        customer_id as current_customer_id,
        cast(null as {{ dbt.type_string() }}) as change_reason,
        assigned_at,
        cast(null as {{ dbt.type_timestamp() }}) as retired_at
    from current_anchors

),

retired_rows as (

    select
        located_assignments.customer_id,
        located_assignments.anchor_identifier_type,
        located_assignments.anchor_identifier_value,
        coalesce(
            located_assignments.located_first_seen_at, located_assignments.anchor_first_seen_at
        ) as anchor_first_seen_at,
        cast(null as {{ dbt.type_bigint() }}) as cluster_id,
        false as is_current,
        holders.customer_id as current_customer_id,
        case
            when not located_assignments.is_current then located_assignments.change_reason
            when holders.customer_id is not null then 'merged'
            else 'anchor_unresolved'
        end as change_reason,
        located_assignments.assigned_at,
        case
            when located_assignments.is_current then {{ run_started }}
            else located_assignments.retired_at
        end as retired_at
    from located_assignments
    left join current_anchors as holders
        on located_assignments.located_cluster_id = holders.cluster_id
    left join current_anchors as still_current
        on located_assignments.customer_id = still_current.customer_id
    where still_current.customer_id is null

),

unioned as (

    select * from current_rows
    union all
    select * from retired_rows

),

final as (

    select
        customer_id,
        anchor_identifier_type,
        anchor_identifier_value,
        anchor_first_seen_at,
        cast(cluster_id as {{ dbt.type_bigint() }}) as cluster_id,
        is_current,
        current_customer_id,
        change_reason,
        assigned_at,
        retired_at

    from unioned

)

select * from final
