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

snapshots as (

    select
        snapshot_date,
        lead(snapshot_date) over (order by snapshot_date) as next_snapshot_date
    from (select distinct snapshot_date from history) as snapshot_dates

),

customer_moves as (

    select
        from_history.snapshot_date as from_snapshot_date,
        to_history.snapshot_date as to_snapshot_date,
        from_history.lifecycle_stage as from_stage,
        to_history.lifecycle_stage as to_stage,
        from_history.customer_id
    from history as from_history
    inner join snapshots
        on from_history.snapshot_date = snapshots.snapshot_date
    inner join history as to_history
        on from_history.customer_id = to_history.customer_id
        and snapshots.next_snapshot_date = to_history.snapshot_date

),

transitions as (

    select
        from_snapshot_date,
        to_snapshot_date,
        from_stage,
        to_stage,
        count(*) as customer_count
    from customer_moves
    group by from_snapshot_date, to_snapshot_date, from_stage, to_stage

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
