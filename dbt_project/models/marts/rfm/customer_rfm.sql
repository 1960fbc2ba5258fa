{#-
    RFM as of var('as_of_date') (default: the last order date in the data), one row per
    customer with at least one completed order on or before that date. Scores use
    rfm_scores_by_value(): percent-rank quintiles where equal values get equal scores (see the
    macro and the model description). Segment and group come from the rule seeds.
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

customer_orders as (

    select
        orders.customer_id,
        min(case when orders.is_completed then orders.ordered_on end) as first_order_on,
        max(case when orders.is_completed then orders.ordered_on end) as last_order_on,
        cast(sum(case when orders.is_completed then 1 else 0 end) as {{ dbt.type_int() }}) as frequency,
        cast(coalesce(sum(orders.revenue_amount), 0) as {{ type_money() }}) as monetary_total
    from orders
    where orders.customer_id is not null
        and orders.ordered_on <= (select as_of_date from as_of)
    group by orders.customer_id

),

metrics as (

    select
        customer_orders.customer_id,
        as_of.as_of_date,
        customer_orders.first_order_on,
        customer_orders.last_order_on,
        {{ dbt.datediff('customer_orders.last_order_on', 'as_of.as_of_date', 'day') }} as recency_days,
        customer_orders.frequency,
        customer_orders.monetary_total,
        customer_orders.monetary_total / customer_orders.frequency as monetary_average
    from customer_orders
    cross join as_of
    where customer_orders.frequency > 0

),

recency_scores as (

    {{ rfm_scores_by_value('metrics', 'recency_days', 'r_score', higher_is_better=false) }}

),

frequency_scores as (

    {{ rfm_scores_by_value('metrics', 'frequency', 'f_score') }}

),

monetary_scores as (

    {{ rfm_scores_by_value('metrics', 'monetary_total', 'm_score') }}

),

scored as (

    select
        metrics.*,
        recency_scores.r_score,
        frequency_scores.f_score,
        monetary_scores.m_score
    from metrics
    inner join recency_scores
        on metrics.recency_days = recency_scores.recency_days
    inner join frequency_scores
        on metrics.frequency = frequency_scores.frequency
    inner join monetary_scores
        on metrics.monetary_total = monetary_scores.monetary_total

),

final as (

    select
        scored.customer_id,
        scored.as_of_date,
        scored.first_order_on,
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
        scored.r_score + scored.f_score + scored.m_score as rfm_score_sum,
        segment_rules.rfm_segment,
        group_rules.rfm_group,
        group_rules.segment_order,
        group_rules.group_order

    from scored
    left join segment_rules
        on scored.r_score = segment_rules.r_score
        and scored.f_score = segment_rules.f_score
        and scored.m_score = segment_rules.m_score
    left join group_rules
        on segment_rules.rfm_segment = group_rules.rfm_segment

)

select * from final
