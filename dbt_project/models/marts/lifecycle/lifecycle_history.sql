{#-
    Month-end lifecycle stage of every customer, from the month they were first seen.
    Snapshot dates are month ends up to the as-of date; when the as-of date is not a month
    end the last snapshot is the as-of date itself (as in rfm_history), and that snapshot
    is the rule-based stage customer_lifecycle starts from.

    The stage at snapshot date s uses only data on or before s. Rules, first match wins
    (thresholds are dbt vars, see dbt_project.yml):

      prospect     no completed order by s (sub-stage `consideration` when a product was
                   viewed or put in a cart in the last lifecycle_consideration_days)
      churned      last order more than lifecycle_churned_days ago
      lapsed       last order more than lifecycle_lapsed_days ago
      reactivated  came back: an order after a gap longer than lifecycle_lapsed_days, within
                   the last lifecycle_reactivated_days
      new          first order within the last lifecycle_new_days
      at_risk      overdue: 2+ orders and recency above lifecycle_at_risk_gap_multiple x
                   their own mean inter-purchase time (and at least
                   lifecycle_at_risk_min_days); a single order older than lifecycle_new_days
      loyal        at least lifecycle_loyal_min_orders orders over at least
                   lifecycle_loyal_min_tenure_days, and a loyalty member or engaged in the
                   last lifecycle_engaged_days
      active       everyone else who buys

    Computed per customer and month, then running maxima over the snapshots (rows =
    customers x months since first seen), never by joining every event to every snapshot.
-#}
{%- set new_days = var('lifecycle_new_days', 90) | int -%}
{%- set lapsed_days = var('lifecycle_lapsed_days', 180) | int -%}
{%- set churned_days = var('lifecycle_churned_days', 365) | int -%}
{%- set reactivated_days = var('lifecycle_reactivated_days', 90) | int -%}
{%- set gap_multiple = var('lifecycle_at_risk_gap_multiple', 2.0) | float -%}
{%- set at_risk_min_days = var('lifecycle_at_risk_min_days', 30) | int -%}
{%- set loyal_min_orders = var('lifecycle_loyal_min_orders', 5) | int -%}
{%- set loyal_min_tenure_days = var('lifecycle_loyal_min_tenure_days', 365) | int -%}
{%- set engaged_days = var('lifecycle_engaged_days', 90) | int -%}
{%- set consideration_days = var('lifecycle_consideration_days', 30) | int -%}
{%- set active_days = var('lifecycle_active_days', 90) | int -%}

with

orders as (

    select * from {{ ref('fct_orders') }}
    where customer_id is not null

),

engagement_events as (

    select * from {{ ref('fct_engagement') }}
    where customer_id is not null

),

customers as (

    select * from {{ ref('dim_customers') }}

),

as_of as (

    select {{ rfm_as_of_date('orders') }} as as_of_date

),

completed_orders as (

    select
        orders.customer_id,
        orders.order_id,
        orders.ordered_on,
        orders.campaign_id is not null or orders.has_coupon as is_marketing_driven,
        lag(orders.ordered_on) over (
            partition by orders.customer_id
            order by orders.ordered_at, orders.order_id
        ) as previous_ordered_on
    from orders
    cross join as_of
    where orders.is_completed
        and orders.ordered_on <= as_of.as_of_date

),

order_months as (

    select
        customer_id,
        cast({{ dbt.date_trunc('month', 'ordered_on') }} as date) as activity_month,
        count(*) as month_order_count,
        min(ordered_on) as month_first_order_on,
        max(ordered_on) as month_last_order_on,
        max(case when is_marketing_driven then ordered_on end) as month_last_marketing_order_on,
        max(
            case
                when {{ dbt.datediff('previous_ordered_on', 'ordered_on', 'day') }} > {{ lapsed_days }}
                    then ordered_on
            end
        ) as month_last_reactivated_on
    from completed_orders
    group by customer_id, cast({{ dbt.date_trunc('month', 'ordered_on') }} as date)

),

engagement_months as (

    select
        engagement_events.customer_id,
        cast({{ dbt.date_trunc('month', 'engagement_events.occurred_on') }} as date) as activity_month,
        max(
            case
                when engagement_events.event_type in (
                    'open', 'click', 'app_open', 'page_view', 'product_view', 'add_to_cart',
                    'checkout', 'login', 'follow', 'share', 'message', 'like'
                )
                    then engagement_events.occurred_on
            end
        ) as month_last_engaged_on,
        max(
            case
                when engagement_events.event_type in ('product_view', 'add_to_cart')
                    then engagement_events.occurred_on
            end
        ) as month_last_considered_on
    from engagement_events
    cross join as_of
    where engagement_events.occurred_on <= as_of.as_of_date
    group by
        engagement_events.customer_id,
        cast({{ dbt.date_trunc('month', 'engagement_events.occurred_on') }} as date)

),

activity_months as (

    select
        coalesce(order_months.customer_id, engagement_months.customer_id) as customer_id,
        coalesce(order_months.activity_month, engagement_months.activity_month) as activity_month,
        coalesce(order_months.month_order_count, 0) as month_order_count,
        order_months.month_first_order_on,
        order_months.month_last_order_on,
        order_months.month_last_marketing_order_on,
        order_months.month_last_reactivated_on,
        engagement_months.month_last_engaged_on,
        engagement_months.month_last_considered_on
    from order_months
    full outer join engagement_months
        on order_months.customer_id = engagement_months.customer_id
        and order_months.activity_month = engagement_months.activity_month

),

customer_starts as (

    select
        customers.customer_id,
        cast({{ dbt.date_trunc('month', 'customers.first_seen_at') }} as date) as first_month,
        cast(customers.signed_up_at as date) as signed_up_on
    from customers
    cross join as_of
    where customers.first_seen_at is not null
        and cast(customers.first_seen_at as date) <= as_of.as_of_date

),

snapshots as (

    {{ month_end_snapshots('(select min(activity_month) from order_months)') }}

),

customer_snapshots as (

    select
        customer_starts.customer_id,
        customer_starts.signed_up_on,
        snapshots.snapshot_month,
        snapshots.snapshot_date,
        coalesce(activity_months.month_order_count, 0) as month_order_count,
        activity_months.month_first_order_on,
        activity_months.month_last_order_on,
        activity_months.month_last_marketing_order_on,
        activity_months.month_last_reactivated_on,
        activity_months.month_last_engaged_on,
        activity_months.month_last_considered_on
    from customer_starts
    inner join snapshots
        on snapshots.snapshot_month >= customer_starts.first_month
    left join activity_months
        on customer_starts.customer_id = activity_months.customer_id
        and snapshots.snapshot_month = activity_months.activity_month

),

running as (

    select
        customer_id,
        signed_up_on,
        snapshot_month,
        snapshot_date,
        sum(month_order_count) over customer_to_date as order_count,
        min(month_first_order_on) over customer_to_date as first_order_on,
        max(month_last_order_on) over customer_to_date as last_order_on,
        max(month_last_marketing_order_on) over customer_to_date as last_marketing_order_on,
        max(month_last_reactivated_on) over customer_to_date as last_reactivated_on,
        max(month_last_engaged_on) over customer_to_date as last_engaged_on,
        max(month_last_considered_on) over customer_to_date as last_considered_on
    from customer_snapshots
    window customer_to_date as (
        partition by customer_id
        order by snapshot_month
        rows between unbounded preceding and current row
    )

),

measured as (

    select
        running.*,
        {{ dbt.datediff('last_order_on', 'snapshot_date', 'day') }} as recency_days,
        {{ dbt.datediff('first_order_on', 'snapshot_date', 'day') }} as tenure_days,
        case
            when order_count > 1
                then cast({{ dbt.datediff('first_order_on', 'last_order_on', 'day') }} as {{ type_double() }})
                    / (order_count - 1)
        end as mean_interpurchase_days,
        {{ dbt.datediff('last_reactivated_on', 'snapshot_date', 'day') }} as days_since_reactivation,
        {{ dbt.datediff('last_engaged_on', 'snapshot_date', 'day') }} as days_since_engagement,
        {{ dbt.datediff('last_considered_on', 'snapshot_date', 'day') }} as days_since_consideration,
        coalesce(signed_up_on <= snapshot_date, false) as is_member
    from running

),

profiled as (

    select
        measured.*,
        order_count >= {{ loyal_min_orders }}
            and tenure_days >= {{ loyal_min_tenure_days }}
            and (is_member or coalesce(days_since_engagement <= {{ engaged_days }}, false))
            as has_loyal_profile,
        order_count > 1
            and recency_days > {{ gap_multiple }} * mean_interpurchase_days
            and recency_days > {{ at_risk_min_days }}
            as is_overdue
    from measured

),

staged as (

    select
        profiled.*,
        case
            when order_count = 0 then 'prospect'
            when recency_days > {{ churned_days }} then 'churned'
            when recency_days > {{ lapsed_days }} then 'lapsed'
            when days_since_reactivation <= {{ reactivated_days }} then 'reactivated'
            when tenure_days <= {{ new_days }} then 'new'
            when is_overdue or order_count = 1 then 'at_risk'
            when has_loyal_profile then 'loyal'
            else 'active'
        end as lifecycle_stage
    from profiled

),

final as (

    select
        {{ dbt.hash(dbt.concat([
            'customer_id', "'|'", dbt.safe_cast('snapshot_date', dbt.type_string())
        ])) }} as lifecycle_snapshot_id,
        customer_id,
        snapshot_date,
        lifecycle_stage,
        case
            when lifecycle_stage = 'prospect' and days_since_consideration <= {{ consideration_days }}
                then 'consideration'
            when lifecycle_stage = 'prospect' then 'known'
            else lifecycle_stage
        end as lifecycle_sub_stage,
        lifecycle_stage in ('new', 'active', 'loyal', 'reactivated', 'at_risk') as is_current_customer,
        -- retention: bought in the window and before it. `active` = at least one order in
        -- the window came through marketing (campaign-attributed or coupon); `passive` =
        -- came back on their own
        case
            when last_order_on > {{ dbt.dateadd('day', -active_days, 'snapshot_date') }}
                and first_order_on <= {{ dbt.dateadd('day', -active_days, 'snapshot_date') }}
                then case
                    when last_marketing_order_on > {{ dbt.dateadd('day', -active_days, 'snapshot_date') }}
                        then 'active'
                    else 'passive'
                end
        end as retention_type,
        cast(order_count as {{ dbt.type_int() }}) as order_count,
        first_order_on,
        last_order_on,
        cast(recency_days as {{ dbt.type_int() }}) as recency_days,
        cast(tenure_days as {{ dbt.type_int() }}) as tenure_days,
        mean_interpurchase_days,
        last_reactivated_on,
        last_engaged_on,
        is_member,
        coalesce(has_loyal_profile, false) as has_loyal_profile,
        coalesce(is_overdue, false) as is_overdue

    from staged

)

select * from final
