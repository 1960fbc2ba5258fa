with

orders as (

    select * from {{ ref('int_orders_unioned') }}
    where customer_id is not null

),

engagement_events as (

    select * from {{ ref('int_engagement_events_unioned') }}
    where customer_id is not null

),

tickets as (

    select * from {{ ref('stg_service_tickets__tickets') }}

),

profiles as (

    select * from {{ ref('int_customer_profiles_selected') }}

),

records_resolved as (

    select * from {{ ref('int_records_resolved') }}
    where source_model = 'stg_service_tickets__tickets'

),

touchpoints as (

    select
        customer_id,
        channel,
        min(ordered_at) as first_at,
        max(ordered_at) as last_at
    from orders
    group by customer_id, channel

    union all

    select
        customer_id,
        channel,
        min(occurred_at) as first_at,
        max(occurred_at) as last_at
    from engagement_events
    group by customer_id, channel

    union all

    select
        records_resolved.customer_id,
        'service' as channel,
        min(tickets.opened_at) as first_at,
        max(tickets.opened_at) as last_at
    from tickets
    inner join records_resolved
        on tickets.ticket_id = records_resolved.record_id
    group by records_resolved.customer_id

    union all

    select
        customer_id,
        'loyalty' as channel,
        first_signed_up_at as first_at,
        first_signed_up_at as last_at
    from profiles

),

channels as (

    -- web and app appear both as order and as browsing channels: one entry each
    select
        customer_id,
        channel,
        min(first_at) as first_at,
        max(last_at) as last_at
    from touchpoints
    group by customer_id, channel

),

final as (

    select
        customer_id,
        {{ dbt.listagg('channel', "','", 'order by channel') }} as channels_used,
        count(*) as channel_count,
        min(first_at) as first_seen_at,
        max(last_at) as last_seen_at
    from channels
    group by customer_id

)

select * from final
