{#-
    Every campaign contact of int_campaign_contacts_resolved with what it did in the
    campaign's response window and the segment the customer was in BEFORE the touch.

    - Segment before the touch: the RFM segment (rfm_history) and lifecycle stage
      (lifecycle_history) at the last month-end snapshot strictly before the touch day.
      A segment taken after the campaign would be partly caused by the campaign (a
      converted customer moves up the RFM map), which biases lift by segment; a
      pre-treatment snapshot keeps treated and control comparable within every segment.
      '(not segmented)' when the customer had no snapshot yet.
    - Delivery / open / click: the customer's engagement events carrying the campaign
      (fct_engagement). Social posts have no delivery or open tracking; a like, share
      or message on the campaign's post counts as its click.
    - Conversion: at least one order (a sale of any final status) in
      (touched_at, response_window_ends_at]: placing the order is the response;
      returns and cancellations show in revenue and gross profit, which count completed
      orders only (revenue_amount, margin_amount of fct_orders).
-#}

with

contacts as (

    select * from {{ ref('int_campaign_contacts_resolved') }}

),

orders as (

    select * from {{ ref('fct_orders') }}
    where customer_id is not null
        and order_type = 'sale'

),

engagement as (

    select * from {{ ref('fct_engagement') }}
    where customer_id is not null
        and campaign_id is not null

),

rfm_history as (

    select * from {{ ref('rfm_history') }}

),

lifecycle_history as (

    select * from {{ ref('lifecycle_history') }}

),

rfm_before as (

    select
        contacts.campaign_id,
        contacts.customer_id,
        rfm_history.rfm_segment,
        row_number() over (
            partition by contacts.campaign_id, contacts.customer_id
            order by rfm_history.snapshot_date desc
        ) as snapshot_rank
    from contacts
    inner join rfm_history
        on contacts.customer_id = rfm_history.customer_id
        and rfm_history.snapshot_date < cast(contacts.touched_at as date)

),

lifecycle_before as (

    select
        contacts.campaign_id,
        contacts.customer_id,
        lifecycle_history.lifecycle_stage,
        row_number() over (
            partition by contacts.campaign_id, contacts.customer_id
            order by lifecycle_history.snapshot_date desc
        ) as snapshot_rank
    from contacts
    inner join lifecycle_history
        on contacts.customer_id = lifecycle_history.customer_id
        and lifecycle_history.snapshot_date < cast(contacts.touched_at as date)

),

responses as (

    select
        campaign_id,
        customer_id,
        {{ dbt.bool_or("event_type = 'delivered'") }} as is_delivered,
        {{ dbt.bool_or("event_type = 'open'") }} as is_opened,
        {{ dbt.bool_or(
            "event_type = 'click' or (channel = 'social' and event_type in ('like', 'share', 'message'))"
        ) }} as is_clicked
    from engagement
    group by campaign_id, customer_id

),

window_orders as (

    select
        contacts.campaign_id,
        contacts.customer_id,
        count(*) as order_count,
        sum(orders.revenue_amount) as revenue,
        sum(case when orders.is_completed then coalesce(orders.margin_amount, 0) else 0 end) as gross_profit
    from contacts
    inner join orders
        on contacts.customer_id = orders.customer_id
        and orders.ordered_at > contacts.touched_at
        and orders.ordered_at <= contacts.response_window_ends_at
    group by contacts.campaign_id, contacts.customer_id

),

final as (

    select
        contacts.campaign_id,
        contacts.customer_id,
        contacts.channel,
        contacts.is_control,
        contacts.touched_at,
        contacts.response_window_days,
        contacts.response_window_ends_at,
        coalesce(rfm_before.rfm_segment, '(not segmented)') as rfm_segment_before,
        coalesce(lifecycle_before.lifecycle_stage, '(not segmented)') as lifecycle_stage_before,
        coalesce(responses.is_delivered, false) as is_delivered,
        coalesce(responses.is_opened, false) as is_opened,
        coalesce(responses.is_clicked, false) as is_clicked,
        coalesce(window_orders.order_count, 0) > 0 as is_converted,
        cast(coalesce(window_orders.order_count, 0) as {{ dbt.type_int() }}) as window_order_count,
        cast(coalesce(window_orders.revenue, 0) as {{ type_double() }}) as window_revenue,
        cast(coalesce(window_orders.gross_profit, 0) as {{ type_double() }}) as window_gross_profit

    from contacts
    left join rfm_before
        on contacts.campaign_id = rfm_before.campaign_id
        and contacts.customer_id = rfm_before.customer_id
        and rfm_before.snapshot_rank = 1
    left join lifecycle_before
        on contacts.campaign_id = lifecycle_before.campaign_id
        and contacts.customer_id = lifecycle_before.customer_id
        and lifecycle_before.snapshot_rank = 1
    left join responses
        on contacts.campaign_id = responses.campaign_id
        and contacts.customer_id = responses.customer_id
    left join window_orders
        on contacts.campaign_id = window_orders.campaign_id
        and contacts.customer_id = window_orders.customer_id

)

select * from final
