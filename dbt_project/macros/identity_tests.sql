{#-
    Generic tests of identity resolution (used in models/intermediate/identity).
-#}

{#-
    The fixed point of connected components: no edge joins two different labels, and
    every node of an edge has a label. `model` holds node_column and label_column;
    `edges` holds node_id and neighbour_node_id.
-#}
{% test identity_edges_within_components(model, edges, node_column='node_id', label_column='component_id') %}

with

edges as (

    select * from {{ edges }}

),

labels as (

    select * from {{ model }}

),

final as (

    select
        edges.node_id,
        edges.neighbour_node_id,
        node_labels.{{ label_column }} as node_label,
        neighbour_labels.{{ label_column }} as neighbour_label
    from edges
    left join labels as node_labels
        on edges.node_id = node_labels.{{ node_column }}
    left join labels as neighbour_labels
        on edges.neighbour_node_id = neighbour_labels.{{ node_column }}
    where node_labels.{{ label_column }} is null
        or neighbour_labels.{{ label_column }} is null
        or node_labels.{{ label_column }} <> neighbour_labels.{{ label_column }}

)

select * from final

{% endtest %}


{#-
    Every cluster of `model` (column cluster_id, nulls ignored) has exactly one current
    customer in `anchors` (int_customer_anchors_assigned).
-#}
{% test identity_clusters_have_one_customer(model, anchors, column_name='cluster_id') %}

with

clusters as (

    select distinct {{ column_name }} as cluster_id
    from {{ model }}
    where {{ column_name }} is not null

),

current_anchors as (

    select
        cluster_id,
        count(*) as customer_count
    from {{ anchors }}
    where is_current
    group by cluster_id

),

final as (

    select
        clusters.cluster_id,
        coalesce(current_anchors.customer_count, 0) as customer_count
    from clusters
    left join current_anchors
        on clusters.cluster_id = current_anchors.cluster_id
    where coalesce(current_anchors.customer_count, 0) <> 1

)

select * from final

{% endtest %}
