{#-
    One row per staging record that carries at least one identifier (header grain: the
    records of int_identifiers_collected), with the cluster it belongs to and how it was
    matched: 'linked' (through linking keys), 'attached' (only through guarded values
    attached to one cluster), or unresolved: 'ambiguous_only' (its identifiers are shared
    values that belong to several customers) and 'junk_only' (placeholders only).
-#}

with

identifiers_collected as (

    select * from {{ ref('int_identifiers_collected') }}

),

identifiers_clustered as (

    select * from {{ ref('int_identifiers_clustered') }}

),

record_identifiers as (

    select
        identifiers_collected.source_model,
        identifiers_collected.record_id,
        min(identifiers_collected.observed_at) as observed_at,
        -- every linking identifier of a record is in the same cluster
        min(
            case when identifiers_clustered.resolution = 'linked' then identifiers_clustered.cluster_id end
        ) as linked_cluster_id,
        min(
            case when identifiers_clustered.resolution = 'attached' then identifiers_clustered.cluster_id end
        ) as attached_cluster_id,
        max(case when identifiers_clustered.resolution = 'ambiguous' then 1 else 0 end) as has_ambiguous,
        count(*) as identifier_count
    from identifiers_collected
    inner join identifiers_clustered
        on identifiers_collected.identifier_type = identifiers_clustered.identifier_type
        and identifiers_collected.identifier_value = identifiers_clustered.identifier_value
    group by identifiers_collected.source_model, identifiers_collected.record_id

),

final as (

    select
        source_model,
        record_id,
        coalesce(linked_cluster_id, attached_cluster_id) as cluster_id,
        case
            when linked_cluster_id is not null then 'linked'
            when attached_cluster_id is not null then 'attached'
            when has_ambiguous = 1 then 'ambiguous_only'
            else 'junk_only'
        end as match_status,
        cast(identifier_count as {{ dbt.type_int() }}) as identifier_count,
        observed_at

    from record_identifiers

)

select * from final
