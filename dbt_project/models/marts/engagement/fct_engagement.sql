with

engagement_events as (

    select * from {{ ref('int_engagement_events_unioned') }}

),

final as (

    select
        engagement_id,
        source_event_id,
        customer_id,
        channel,
        event_type,
        campaign_id,
        session_id,
        product_id,
        platform,
        referrer_channel,
        occurred_at,
        occurred_on

    from engagement_events

)

select * from final
