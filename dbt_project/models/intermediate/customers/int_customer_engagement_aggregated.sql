with

engagement_events as (

    select * from {{ ref('int_engagement_events_unioned') }}
    where customer_id is not null

),

orders as (

    select * from {{ ref('int_orders_unioned') }}

),

as_of as (

    select {{ rfm_as_of_date('orders') }} as as_of_date

),

messages as (

    -- e-mails, SMS and pushes: one message per customer, channel and campaign
    -- (campaign-less messages count one per event), so that repeated opens or clicks
    -- of the same message count once
    select
        customer_id,
        channel,
        coalesce(campaign_id, engagement_id) as message_id,
        max(case when event_type = 'sent' then 1 else 0 end) as is_sent,
        max(case when event_type = 'delivered' then 1 else 0 end) as is_delivered,
        max(case when event_type = 'open' then 1 else 0 end) as is_opened,
        max(case when event_type = 'click' then 1 else 0 end) as is_clicked
    from engagement_events
    where channel in ('email', 'sms', 'push')
        and event_type in ('sent', 'delivered', 'open', 'click')
    group by customer_id, channel, coalesce(campaign_id, engagement_id)

),

customer_messages as (

    select
        customer_id,
        sum(case when channel = 'email' then greatest(is_sent, is_delivered) else 0 end) as email_sent_count,
        sum(case when channel = 'email' then is_delivered else 0 end) as email_delivered_count,
        sum(case when channel = 'email' then is_opened else 0 end) as email_opened_count,
        sum(case when channel = 'email' then is_clicked else 0 end) as email_clicked_count,
        sum(case when channel = 'sms' then is_delivered else 0 end) as sms_delivered_count,
        sum(case when channel = 'sms' then is_clicked else 0 end) as sms_clicked_count,
        sum(case when channel = 'push' then is_delivered else 0 end) as push_delivered_count,
        sum(case when channel = 'push' then is_opened else 0 end) as push_opened_count
    from messages
    group by customer_id

),

sessions as (

    select
        engagement_events.customer_id,
        engagement_events.channel,
        engagement_events.session_id,
        max(engagement_events.occurred_on) as session_on,
        max(case when engagement_events.event_type = 'add_to_cart' then 1 else 0 end) as has_cart,
        max(case when engagement_events.event_type = 'checkout' then 1 else 0 end) as has_checkout
    from engagement_events
    where engagement_events.channel in ('web', 'app')
        and engagement_events.session_id is not null
    group by engagement_events.customer_id, engagement_events.channel, engagement_events.session_id

),

customer_sessions as (

    select
        sessions.customer_id,
        sum(case when sessions.channel = 'web' then 1 else 0 end) as web_session_count,
        sum(case when sessions.channel = 'app' then 1 else 0 end) as app_session_count,
        sum(
            case
                when sessions.channel = 'web'
                    and sessions.session_on > {{ dbt.dateadd('day', -30, 'as_of.as_of_date') }}
                    and sessions.session_on <= as_of.as_of_date
                    then 1
                else 0
            end
        ) as web_sessions_last_30_days,
        sum(
            case
                when sessions.channel = 'web'
                    and sessions.session_on > {{ dbt.dateadd('day', -90, 'as_of.as_of_date') }}
                    and sessions.session_on <= as_of.as_of_date
                    then 1
                else 0
            end
        ) as web_sessions_last_90_days,
        sum(
            case
                when sessions.channel = 'app'
                    and sessions.session_on > {{ dbt.dateadd('day', -30, 'as_of.as_of_date') }}
                    and sessions.session_on <= as_of.as_of_date
                    then 1
                else 0
            end
        ) as app_sessions_last_30_days,
        sum(
            case
                when sessions.channel = 'app'
                    and sessions.session_on > {{ dbt.dateadd('day', -90, 'as_of.as_of_date') }}
                    and sessions.session_on <= as_of.as_of_date
                    then 1
                else 0
            end
        ) as app_sessions_last_90_days,
        sum(sessions.has_cart) as cart_session_count,
        sum(case when sessions.has_cart = 1 and sessions.has_checkout = 0 then 1 else 0 end)
            as abandoned_cart_session_count
    from sessions
    cross join as_of
    group by sessions.customer_id

),

customer_events as (

    select
        customer_id,
        count(*) as engagement_event_count,
        sum(case when channel = 'social' then 1 else 0 end) as social_interaction_count,
        max(case when channel = 'email' and event_type = 'unsubscribe' then occurred_at end)
            as email_unsubscribed_at,
        max(case when channel = 'sms' and event_type = 'unsubscribe' then occurred_at end)
            as sms_unsubscribed_at,
        max(case when channel = 'push' and event_type = 'unsubscribe' then occurred_at end)
            as push_unsubscribed_at,
        min(occurred_at) as first_engaged_at,
        max(occurred_at) as last_engaged_at
    from engagement_events
    group by customer_id

),

final as (

    select
        customer_events.customer_id,
        as_of.as_of_date,
        cast(customer_events.engagement_event_count as {{ dbt.type_bigint() }}) as engagement_event_count,
        cast(coalesce(customer_messages.email_sent_count, 0) as {{ dbt.type_bigint() }}) as email_sent_count,
        cast(
            coalesce(customer_messages.email_delivered_count, 0)
            as {{ dbt.type_bigint() }}
        ) as email_delivered_count,
        cast(
            coalesce(customer_messages.email_opened_count, 0)
            as {{ dbt.type_bigint() }}
        ) as email_opened_count,
        cast(
            coalesce(customer_messages.email_clicked_count, 0)
            as {{ dbt.type_bigint() }}
        ) as email_clicked_count,
        cast(customer_messages.email_opened_count as {{ type_double() }})
            / nullif(customer_messages.email_delivered_count, 0) as email_open_rate,
        cast(customer_messages.email_clicked_count as {{ type_double() }})
            / nullif(customer_messages.email_delivered_count, 0) as email_click_rate,
        cast(
            coalesce(customer_messages.sms_delivered_count, 0)
            as {{ dbt.type_bigint() }}
        ) as sms_delivered_count,
        cast(
            coalesce(customer_messages.sms_clicked_count, 0)
            as {{ dbt.type_bigint() }}
        ) as sms_clicked_count,
        cast(
            coalesce(customer_messages.push_delivered_count, 0)
            as {{ dbt.type_bigint() }}
        ) as push_delivered_count,
        cast(
            coalesce(customer_messages.push_opened_count, 0)
            as {{ dbt.type_bigint() }}
        ) as push_opened_count,
        cast(customer_events.social_interaction_count as {{ dbt.type_bigint() }}) as social_interaction_count,
        cast(
            coalesce(customer_sessions.web_session_count, 0)
            as {{ dbt.type_bigint() }}
        ) as web_session_count,
        cast(
            coalesce(customer_sessions.app_session_count, 0)
            as {{ dbt.type_bigint() }}
        ) as app_session_count,
        cast(
            coalesce(customer_sessions.web_sessions_last_30_days, 0)
            as {{ dbt.type_bigint() }}
        ) as web_sessions_last_30_days,
        cast(
            coalesce(customer_sessions.web_sessions_last_90_days, 0)
            as {{ dbt.type_bigint() }}
        ) as web_sessions_last_90_days,
        cast(
            coalesce(customer_sessions.app_sessions_last_30_days, 0)
            as {{ dbt.type_bigint() }}
        ) as app_sessions_last_30_days,
        cast(
            coalesce(customer_sessions.app_sessions_last_90_days, 0)
            as {{ dbt.type_bigint() }}
        ) as app_sessions_last_90_days,
        cast(
            coalesce(customer_sessions.cart_session_count, 0)
            as {{ dbt.type_bigint() }}
        ) as cart_session_count,
        cast(
            coalesce(customer_sessions.abandoned_cart_session_count, 0)
            as {{ dbt.type_bigint() }}
        ) as abandoned_cart_session_count,
        cast(customer_sessions.abandoned_cart_session_count as {{ type_double() }})
            / nullif(customer_sessions.cart_session_count, 0) as cart_abandonment_rate,
        customer_events.email_unsubscribed_at,
        customer_events.sms_unsubscribed_at,
        customer_events.push_unsubscribed_at,
        customer_events.first_engaged_at,
        customer_events.last_engaged_at

    from customer_events
    cross join as_of
    left join customer_messages
        on customer_events.customer_id = customer_messages.customer_id
    left join customer_sessions
        on customer_events.customer_id = customer_sessions.customer_id

)

select * from final
