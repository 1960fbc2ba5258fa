{#-
    Month-to-month movement between lifecycle stages: for each pair of consecutive
    snapshots of lifecycle_history, how many customers moved from each stage to each
    stage, and that count as a share of the from-stage (a row-normalised transition
    matrix). Customers first seen between the two snapshots have no from-stage and are
    not counted (they enter as prospects or new customers in the later snapshot).
-#}
with

history as (

    select * from {{ ref('lifecycle_history') }}

),

transitions as (

    {{ snapshot_transitions('history', 'lifecycle_stage', 'from_stage', 'to_stage') }}

),

final as (

    select
        {{ dbt.hash(dbt.concat([
            dbt.safe_cast('from_snapshot_date', dbt.type_string()),
            "'|'",
            'from_stage',
            "'|'",
            'to_stage',
        ])) }} as lifecycle_transition_id,
        from_snapshot_date,
        to_snapshot_date,
        from_stage,
        to_stage,
        from_stage = to_stage as is_same_stage,
        cast(customer_count as {{ dbt.type_int() }}) as customer_count,
        cast(customer_count as {{ type_double() }}) / sum(customer_count) over (
            partition by from_snapshot_date, from_stage
        ) as share_of_from_stage

    from transitions

)

select * from final
