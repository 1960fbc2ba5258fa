{#-
    Restricted (contains personal identifiers): every identifier that belongs to a
    customer, with the customer id, when it was first and last seen and on how many
    records. Junk and ambiguous shared values belong to no customer and are not here
    (see int_identifiers_guarded and identity_resolution_report).
-#}

with

identifiers_clustered as (

    select * from {{ ref('int_identifiers_clustered') }}
    where cluster_id is not null

),

customer_anchors as (

    select * from {{ ref('int_customer_anchors_assigned') }}
    where is_current

),

final as (

    select
        cast(identifiers_clustered.identifier_type as {{ dbt.type_string() }}) as identifier_type,
        cast(identifiers_clustered.identifier_value as {{ dbt.type_string() }}) as identifier_value,
        cast(customer_anchors.customer_id as {{ dbt.type_string() }}) as customer_id,
        identifiers_clustered.is_linking_key,
        identifiers_clustered.identifier_type = customer_anchors.anchor_identifier_type
            and identifiers_clustered.identifier_value = customer_anchors.anchor_identifier_value
            as is_anchor,
        cast(identifiers_clustered.first_seen_at as {{ dbt.type_timestamp() }}) as first_seen_at,
        cast(identifiers_clustered.last_seen_at as {{ dbt.type_timestamp() }}) as last_seen_at,
        cast(identifiers_clustered.record_count as {{ dbt.type_bigint() }}) as record_count

    from identifiers_clustered
    inner join customer_anchors
        on identifiers_clustered.cluster_id = customer_anchors.cluster_id

)

select * from final
