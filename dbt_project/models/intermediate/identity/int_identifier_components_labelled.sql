{#-
    Connected components of the linking identifiers. The pre-hook runs the label
    propagation loop (macro identity_connected_components) over the filtered edges into
    temporary tables of this connection; this query gives every linking identifier its
    component label (its component's smallest node id; an identifier without edges is
    its own component) and records how many passes the loop needed.
-#}
{{
    config(
        pre_hook="{{ identity_connected_components(
            ref('int_identifier_edges_filtered'), 'identity_components', symmetric=true
        ) }}",
        post_hook="{{ identity_drop_connected_components('identity_components') }}",
    )
}}
-- the pre-hook's input, declared so that dbt builds it first:
-- depends_on: {{ ref('int_identifier_edges_filtered') }}

with

identifiers_indexed as (

    select * from {{ ref('int_identifiers_indexed') }}

),

identifiers_guarded as (

    select * from {{ ref('int_identifiers_guarded') }}

),

components as (

    -- temporary table written by the pre-hook
    select * from identity_components

),

convergence as (

    -- temporary table written by the pre-hook: one row
    select * from identity_components__convergence

),

linking_identifiers as (

    select identifiers_indexed.node_id
    from identifiers_indexed
    left join identifiers_guarded
        on identifiers_indexed.node_id = identifiers_guarded.node_id
    where identifiers_guarded.node_id is null

),

final as (

    select
        linking_identifiers.node_id,
        coalesce(components.component_id, linking_identifiers.node_id) as component_id,
        cast(convergence.passes as {{ dbt.type_int() }}) as convergence_passes

    from linking_identifiers
    cross join convergence
    left join components
        on linking_identifiers.node_id = components.node_id

)

select * from final
