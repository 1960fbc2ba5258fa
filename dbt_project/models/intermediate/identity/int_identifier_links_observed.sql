{#-
    The raw identity graph: one row per ordered pair of distinct identifiers that occur
    together on at least one staging record (both directions are present), junk values
    excluded. The guards count neighbours here; the filtered edges and the attachment of
    guarded values are derived from it.
-#}

with

identifiers_collected as (

    select * from {{ ref('int_identifiers_collected') }}

),

identifiers_indexed as (

    select * from {{ ref('int_identifiers_indexed') }}

),

record_nodes as (

    select
        identifiers_collected.source_model,
        identifiers_collected.record_id,
        identifiers_collected.observed_at,
        identifiers_indexed.node_id,
        identifiers_indexed.identifier_type
    from identifiers_collected
    inner join identifiers_indexed
        on identifiers_collected.identifier_type = identifiers_indexed.identifier_type
        and identifiers_collected.identifier_value = identifiers_indexed.identifier_value
    -- a record with a single identifier links nothing
    where identifiers_collected.record_identifier_count >= 2
        and not identifiers_indexed.is_junk

),

co_occurrences as (

    select
        record_nodes.node_id,
        record_nodes.identifier_type,
        neighbour_nodes.node_id as neighbour_node_id,
        neighbour_nodes.identifier_type as neighbour_type,
        count(*) as record_count,
        min(record_nodes.observed_at) as first_seen_at,
        max(record_nodes.observed_at) as last_seen_at
    from record_nodes
    inner join record_nodes as neighbour_nodes
        on record_nodes.source_model = neighbour_nodes.source_model
        and record_nodes.record_id = neighbour_nodes.record_id
        and record_nodes.node_id <> neighbour_nodes.node_id
    group by
        record_nodes.node_id,
        record_nodes.identifier_type,
        neighbour_nodes.node_id,
        neighbour_nodes.identifier_type

),

final as (

    select
        node_id,
        identifier_type,
        neighbour_node_id,
        neighbour_type,
        cast(record_count as {{ dbt.type_bigint() }}) as record_count,
        first_seen_at,
        last_seen_at

    from co_occurrences

)

select * from final
