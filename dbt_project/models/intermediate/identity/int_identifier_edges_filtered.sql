{#-
    The edges connected components run on: links between two identifiers that are both
    linking keys (neither junk nor over a cardinality limit). Both directions are present.
-#}

with

links_observed as (

    select * from {{ ref('int_identifier_links_observed') }}

),

identifiers_guarded as (

    select * from {{ ref('int_identifiers_guarded') }}

),

final as (

    select
        links_observed.node_id,
        links_observed.neighbour_node_id

    from links_observed
    left join identifiers_guarded as guarded_nodes
        on links_observed.node_id = guarded_nodes.node_id
    left join identifiers_guarded as guarded_neighbours
        on links_observed.neighbour_node_id = guarded_neighbours.node_id
    where guarded_nodes.node_id is null
        and guarded_neighbours.node_id is null

)

select * from final
