{#-
    Every identifier, with the cluster (future customer) it belongs to, if any:
    - linked:    a linking key, in its connected component;
    - attached:  a guarded value whose linking neighbours all lie in one component (a
                 person with more phones than the limit, say): it joins that component
                 without linking anything;
    - ambiguous: a guarded value whose neighbours lie in several components (a household
                 mailbox, a store tablet), that has no linking neighbour, or that is a
                 shared_contact (direct evidence of several users): it belongs to no one,
                 and records carrying only such values stay unresolved;
    - junk:      a known placeholder; never a node of the graph, belongs to no one.
-#}

with

identifiers_indexed as (

    select * from {{ ref('int_identifiers_indexed') }}

),

identifiers_guarded as (

    select * from {{ ref('int_identifiers_guarded') }}

),

components_labelled as (

    select * from {{ ref('int_identifier_components_labelled') }}

),

links_observed as (

    select * from {{ ref('int_identifier_links_observed') }}

),

guarded_neighbour_components as (

    select distinct
        links_observed.node_id,
        components_labelled.component_id
    from links_observed
    inner join identifiers_guarded
        on links_observed.node_id = identifiers_guarded.node_id
    inner join components_labelled
        on links_observed.neighbour_node_id = components_labelled.node_id

),

attachments as (

    select
        guarded_neighbour_components.node_id,
        count(*) as neighbour_component_count,
        min(guarded_neighbour_components.component_id) as component_id,
        -- only a value guarded for its neighbours may be attached: shared_contact is
        -- direct evidence that several persons use it, whatever its neighbours say
        max(
            case when identifiers_guarded.guard_type in ('cardinality_limit', 'unlinked_profiles') then 1 else 0 end
        ) = 1 as is_attachable
    from guarded_neighbour_components
    inner join identifiers_guarded
        on guarded_neighbour_components.node_id = identifiers_guarded.node_id
    group by guarded_neighbour_components.node_id

),

clustered as (

    select
        identifiers_indexed.node_id,
        identifiers_indexed.identifier_type,
        identifiers_indexed.identifier_value,
        identifiers_indexed.first_seen_at,
        identifiers_indexed.last_seen_at,
        identifiers_indexed.record_count,
        components_labelled.node_id is not null as is_linking_key,
        case
            when identifiers_indexed.is_junk then 'junk'
            when components_labelled.node_id is not null then 'linked'
            when attachments.neighbour_component_count = 1 and attachments.is_attachable then 'attached'
            else 'ambiguous'
        end as resolution,
        case
            when components_labelled.node_id is not null then components_labelled.component_id
            when attachments.neighbour_component_count = 1 and attachments.is_attachable
                then attachments.component_id
        end as cluster_id,
        coalesce(attachments.neighbour_component_count, 0) as neighbour_component_count
    from identifiers_indexed
    left join components_labelled
        on identifiers_indexed.node_id = components_labelled.node_id
    left join attachments
        on identifiers_indexed.node_id = attachments.node_id

),

final as (

    select
        node_id,
        identifier_type,
        identifier_value,
        cluster_id,
        resolution,
        is_linking_key,
        cast(neighbour_component_count as {{ dbt.type_bigint() }}) as neighbour_component_count,
        first_seen_at,
        last_seen_at,
        record_count

    from clustered

)

select * from final
