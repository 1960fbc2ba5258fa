{#-
    Month-end RFM snapshots over the whole order history. Each snapshot scores the
    customers who had completed at least one order by then, using only orders on or
    before the snapshot date; the scores rank customers within the snapshot. Snapshot
    dates are every month end from the first order month up to the as-of date; when
    the as-of date is not a month end, the last snapshot is the as-of date itself, so
    the latest snapshot equals customer_rfm.

    Computed incrementally per customer: monthly totals, then running sums over the
    snapshots (rows = customers x months since their first order), rather than a join
    of every order to every later snapshot.
-#}
with

orders as (

    select * from {{ ref('fct_orders') }}

),

segment_rules as (

    select * from {{ ref('rfm_segment_rules') }}

),

group_rules as (

    select * from {{ ref('rfm_group_rules') }}

),

as_of as (

    select {{ rfm_as_of_date('orders') }} as as_of_date

),

eligible_orders as (

    select
        orders.customer_id,
        orders.ordered_on,
        orders.is_completed,
        orders.revenue_amount,
        cast({{ dbt.date_trunc('month', 'orders.ordered_on') }} as date) as order_month
    from orders
    cross join as_of
    where orders.customer_id is not null
        and orders.ordered_on <= as_of.as_of_date

),

customer_months as (

    select
        customer_id,
        order_month,
        sum(case when is_completed then 1 else 0 end) as month_order_count,
        sum(revenue_amount) as month_revenue,
        max(case when is_completed then ordered_on end) as month_last_order_on
    from eligible_orders
    group by customer_id, order_month

),

customer_first_months as (

    select
        customer_id,
        min(order_month) as first_month
    from customer_months
    group by customer_id

),

snapshots as (

    {{ month_end_snapshots('(select min(order_month) from customer_months)') }}

),

customer_snapshots as (

    select
        customer_first_months.customer_id,
        snapshots.snapshot_month,
        snapshots.snapshot_date,
        coalesce(customer_months.month_order_count, 0) as month_order_count,
        coalesce(customer_months.month_revenue, 0) as month_revenue,
        customer_months.month_last_order_on
    from customer_first_months
    inner join snapshots
        on snapshots.snapshot_month >= customer_first_months.first_month
    left join customer_months
        on customer_first_months.customer_id = customer_months.customer_id
        and snapshots.snapshot_month = customer_months.order_month

),

cumulated as (

    select
        customer_id,
        snapshot_date,
        cast(sum(month_order_count) over (
            partition by customer_id order by snapshot_month
            rows between unbounded preceding and current row
        ) as {{ dbt.type_int() }}) as frequency,
        cast(sum(month_revenue) over (
            partition by customer_id order by snapshot_month
            rows between unbounded preceding and current row
        ) as {{ type_money() }}) as monetary_total,
        max(month_last_order_on) over (
            partition by customer_id order by snapshot_month
            rows between unbounded preceding and current row
        ) as last_order_on
    from customer_snapshots

),

metrics as (

    select
        customer_id,
        snapshot_date,
        last_order_on,
        {{ dbt.datediff('last_order_on', 'snapshot_date', 'day') }} as recency_days,
        frequency,
        monetary_total,
        monetary_total / frequency as monetary_average
    from cumulated
    where frequency > 0

),

recency_scores as (

    {{ rfm_scores_by_value(
        'metrics', 'recency_days', 'r_score', higher_is_better=false, partition_by='snapshot_date'
    ) }}

),

frequency_scores as (

    {{ rfm_scores_by_value('metrics', 'frequency', 'f_score', partition_by='snapshot_date') }}

),

monetary_scores as (

    {{ rfm_scores_by_value('metrics', 'monetary_total', 'm_score', partition_by='snapshot_date') }}

),

scored as (

    select
        metrics.*,
        recency_scores.r_score,
        frequency_scores.f_score,
        monetary_scores.m_score
    from metrics
    inner join recency_scores
        on metrics.snapshot_date = recency_scores.snapshot_date
        and metrics.recency_days = recency_scores.recency_days
    inner join frequency_scores
        on metrics.snapshot_date = frequency_scores.snapshot_date
        and metrics.frequency = frequency_scores.frequency
    inner join monetary_scores
        on metrics.snapshot_date = monetary_scores.snapshot_date
        and metrics.monetary_total = monetary_scores.monetary_total

),

final as (

    select
        {{ dbt.hash(dbt.concat([
            'scored.customer_id',
            "'|'",
            dbt.safe_cast('scored.snapshot_date', dbt.type_string()),
        ])) }} as rfm_snapshot_id,
        scored.customer_id,
        scored.snapshot_date,
        scored.last_order_on,
        cast(scored.recency_days as {{ dbt.type_int() }}) as recency_days,
        cast(scored.frequency as {{ dbt.type_int() }}) as frequency,
        cast(scored.monetary_total as {{ type_money() }}) as monetary_total,
        cast(scored.monetary_average as {{ type_money() }}) as monetary_average,
        scored.r_score,
        scored.f_score,
        scored.m_score,
        {{ dbt.concat([
            dbt.safe_cast('scored.r_score', dbt.type_string()),
            dbt.safe_cast('scored.f_score', dbt.type_string()),
            dbt.safe_cast('scored.m_score', dbt.type_string()),
        ]) }} as rfm_cell,
        segment_rules.rfm_segment,
        group_rules.rfm_group

    from scored
    left join segment_rules
        on scored.r_score = segment_rules.r_score
        and scored.f_score = segment_rules.f_score
        and scored.m_score = segment_rules.m_score
    left join group_rules
        on segment_rules.rfm_segment = group_rules.rfm_segment

)

select * from final
