{#-
    Every campaign touch of a resolved customer with what happened in its response
    window: a click on the campaign (for social: a like, share or message on it) and any
    order that was not cancelled. Control-group touches are kept (no message was sent, so
    they cannot click; their conversions are the counterfactual the discount model and
    uplift reporting compare against).

    The response window is the one campaign_performance measures lift over (see
    int_campaign_contacts_resolved): var campaign_response_window_days when set, else the
    campaign's duration (ended_at - started_at, days), else var
    campaign_default_response_window_days. A window that has not closed by the as-of date
    is flagged is_window_closed = false: its label is not final yet and the response
    model does not train on it.

    Grain: the touch (not the campaign x customer pair of the marketing marts): the
    response model learns from each contact, and a customer contacted twice by one
    campaign (two addresses) answered or ignored each message.
-#}
{%- set window_days = var('campaign_response_window_days', none) -%}
with

touches as (

    select * from {{ ref('stg_campaign_touches__touches') }}

),

campaigns as (

    select * from {{ ref('stg_campaigns__campaigns') }}

),

records_resolved as (

    select * from {{ ref('int_records_resolved') }}
    where source_model = 'stg_campaign_touches__touches'

),

engagement_events as (

    select * from {{ ref('int_engagement_events_unioned') }}
    where event_type in ('click', 'like', 'share', 'message')
        and campaign_id is not null
        and customer_id is not null

),

all_orders as (

    select * from {{ ref('int_orders_unioned') }}

),

orders as (

    select * from all_orders
    where not is_cancelled
        and customer_id is not null

),

as_of as (

    -- the same reference date as dim_customers: the last order of any status
    select {{ rfm_as_of_date('all_orders') }} as as_of_date

),

customer_touches as (

    select
        touches.touch_id,
        touches.campaign_id,
        records_resolved.customer_id,
        touches.channel,
        touches.is_control,
        touches.touched_at,
        campaigns.objective,
        coalesce(campaigns.discount_pct, 0) as discount_pct,
        cast(
            {% if window_days is not none -%}
            {{ window_days | int }}
            {%- else -%}
            coalesce(campaigns.duration_days, {{ var('campaign_default_response_window_days', 14) | int }})
            {%- endif %}
            as {{ dbt.type_int() }}
        ) as response_window_days
    from touches
    inner join records_resolved
        on touches.touch_id = records_resolved.record_id
    inner join campaigns
        on touches.campaign_id = campaigns.campaign_id

),

windowed as (

    select
        customer_touches.*,
        {{ dbt.dateadd('day', 'customer_touches.response_window_days', 'customer_touches.touched_at') }}
            as window_ends_at
    from customer_touches

),

clicks as (

    select
        windowed.touch_id,
        count(*) as click_count,
        min(engagement_events.occurred_at) as first_clicked_at
    from windowed
    inner join engagement_events
        on windowed.customer_id = engagement_events.customer_id
        and windowed.campaign_id = engagement_events.campaign_id
        and engagement_events.occurred_at > windowed.touched_at
        and engagement_events.occurred_at <= windowed.window_ends_at
    group by windowed.touch_id

),

conversions as (

    select
        windowed.touch_id,
        count(*) as order_count,
        min(orders.ordered_at) as first_ordered_at,
        sum(orders.revenue_amount) as revenue_amount,
        sum(orders.margin_amount) as margin_amount
    from windowed
    inner join orders
        on windowed.customer_id = orders.customer_id
        and orders.ordered_at > windowed.touched_at
        and orders.ordered_at <= windowed.window_ends_at
    group by windowed.touch_id

),

final as (

    select
        windowed.touch_id,
        windowed.campaign_id,
        windowed.customer_id,
        windowed.channel,
        windowed.is_control,
        windowed.objective,
        cast(windowed.discount_pct as {{ type_double() }}) as discount_pct,
        windowed.response_window_days,
        coalesce(clicks.click_count, 0) > 0 as is_clicked,
        coalesce(conversions.order_count, 0) > 0 as is_converted,
        coalesce(clicks.click_count, 0) > 0 or coalesce(conversions.order_count, 0) > 0 as is_responded,
        cast(coalesce(conversions.order_count, 0) as {{ dbt.type_bigint() }}) as window_order_count,
        cast(coalesce(conversions.revenue_amount, 0) as {{ type_money() }}) as window_revenue,
        cast(coalesce(conversions.margin_amount, 0) as {{ type_money() }}) as window_margin,
        cast(windowed.window_ends_at as {{ dbt.type_timestamp() }})
            <= cast({{ dbt.dateadd('day', 1, 'as_of.as_of_date') }} as {{ dbt.type_timestamp() }})
            as is_window_closed,
        windowed.touched_at,
        cast(windowed.window_ends_at as {{ dbt.type_timestamp() }}) as window_ends_at,
        clicks.first_clicked_at,
        conversions.first_ordered_at

    from windowed
    cross join as_of
    left join clicks
        on windowed.touch_id = clicks.touch_id
    left join conversions
        on windowed.touch_id = conversions.touch_id

)

select * from final
