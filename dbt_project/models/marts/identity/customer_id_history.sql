{#-
    Old customer ids and the id that replaced them. A customer id is retired when two
    customers turn out to be one person (new data links them: 'merged', the surviving
    id is the one whose anchor identifier was seen first), or when its anchor
    identifier no longer resolves to anyone ('anchor_unresolved', e.g. after it was
    added to the junk list). new_customer_id follows chains of merges to the live id.
    Built from the stateful int_customer_anchors_assigned, so history accumulates over
    runs.
-#}

with

customer_anchors as (

    select * from {{ ref('int_customer_anchors_assigned') }}
    where not is_current

),

final as (

    select
        cast(customer_id as {{ dbt.type_string() }}) as old_customer_id,
        cast(current_customer_id as {{ dbt.type_string() }}) as new_customer_id,
        cast(change_reason as {{ dbt.type_string() }}) as change_reason,
        cast(assigned_at as {{ dbt.type_timestamp() }}) as old_customer_assigned_at,
        cast(retired_at as {{ dbt.type_timestamp() }}) as changed_at

    from customer_anchors

)

select * from final
