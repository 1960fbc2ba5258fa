{#-
    Inputs of the response propensity model, one row per point in time at which a
    customer could be contacted on a channel:

    - point_type = 'touch': every treated (not control) campaign touch on email, sms,
      push or social, with its label from int_campaign_touches_labelled (training data);
    - point_type = 'score': every customer x channel at the end of the as-of date (the
      rows the trained model scores for customer_channel_propensity).

    Both kinds get the SAME features from the same window, so training and scoring can
    never drift apart: everything the customer did strictly before the point (orders,
    touches, opens, clicks and social engagement per channel, follows, web and app
    sessions, membership). Nothing after the point leaks in: the window stops one row
    before the point, and at equal timestamps points sort before events.

    Why one customer timeline with running totals rather than a join per feature:
    cumulative window sums are one sort per customer, linear in events, and portable
    (no ASOF or range joins). Activity over the last 90 / 365 days is the running total
    at the point minus the running total at a "look-back" copy of the point placed 90 /
    365 days earlier in the same timeline. Windowed counts matter for a time-split model:
    lifetime totals only grow with calendar time, so a model trained on early touches
    would meet larger totals than it ever saw when it scores today.
-#}
{%- set channels = ['email', 'sms', 'push', 'social'] -%}
{%- set lookbacks = [90, 365] -%}

with

touches as (

    select * from {{ ref('int_campaign_touches_labelled') }}

),

orders_all as (

    select * from {{ ref('int_orders_unioned') }}

),

engagement_events as (

    select * from {{ ref('int_engagement_events_unioned') }}
    where customer_id is not null

),

profiles as (

    select * from {{ ref('int_customer_profiles_selected') }}

),

customers as (

    select * from {{ ref('int_customer_touchpoints_aggregated') }}

),

as_of as (

    select {{ rfm_as_of_date('orders_all') }} as as_of_date

),

channels as (

    {% for channel in channels %}
    select '{{ channel }}' as channel
    {% if not loop.last %}union all{% endif %}
    {% endfor %}

),

touch_points as (

    select
        touch_id as point_id,
        'touch' as point_type,
        customer_id,
        channel,
        touched_at as point_at,
        campaign_id,
        window_ends_at,
        is_window_closed,
        is_responded,
        is_clicked,
        is_converted
    from touches
    where not is_control
        and channel in ({% for channel in channels %}'{{ channel }}'{{ ', ' if not loop.last }}{% endfor %})

),

score_points as (

    select
        {{ dbt.concat(['customers.customer_id', "':'", 'channels.channel']) }} as point_id,
        'score' as point_type,
        customers.customer_id,
        channels.channel,
        cast({{ dbt.dateadd('day', 1, 'as_of.as_of_date') }} as {{ dbt.type_timestamp() }}) as point_at,
        cast(null as {{ dbt.type_string() }}) as campaign_id,
        cast(null as {{ dbt.type_timestamp() }}) as window_ends_at,
        cast(null as {{ dbt.type_boolean() }}) as is_window_closed,
        cast(null as {{ dbt.type_boolean() }}) as is_responded,
        cast(null as {{ dbt.type_boolean() }}) as is_clicked,
        cast(null as {{ dbt.type_boolean() }}) as is_converted
    from customers
    cross join channels
    cross join as_of

),

points as (

    select * from touch_points
    union all
    select * from score_points

),

sessions as (

    select
        customer_id,
        channel,
        min(occurred_at) as started_at
    from engagement_events
    where channel in ('web', 'app')
        and session_id is not null
    group by customer_id, channel, session_id

),

anchors as (

    -- each point, and a look-back copy of it per window (same customer, earlier time)
    select point_id as anchor_id, point_id, customer_id, point_at as anchor_at, point_type, channel
    from points
    {% for days in lookbacks %}
    union all
    select
        {{ dbt.concat(['point_id', "'@" ~ days ~ "'"]) }},
        point_id,
        customer_id,
        {{ dbt.dateadd('day', -days, 'point_at') }},
        'lookback',
        channel
    from points
    {% endfor %}

),

timeline as (

    -- sort_rank 0: anchors (a touch point also counts as a touch for later anchors);
    -- at equal timestamps anchors sort before events, so an anchor sees only the past
    select
        customer_id,
        anchor_at as event_at,
        0 as sort_rank,
        anchor_id,
        case when point_type = 'touch' then channel end as touch_channel,
        0 as is_order,
        0 as order_revenue,
        0 as is_discounted_order,
        cast(null as {{ dbt.type_string() }}) as open_channel,
        cast(null as {{ dbt.type_string() }}) as response_channel,
        0 as is_follow,
        0 as is_unfollow,
        cast(null as {{ dbt.type_string() }}) as session_channel
    from anchors

    union all

    select
        customer_id,
        ordered_at,
        1,
        cast(null as {{ dbt.type_string() }}),
        cast(null as {{ dbt.type_string() }}),
        1,
        coalesce(revenue_amount, 0),
        case when coalesce(discount_amount, 0) > 0 then 1 else 0 end,
        cast(null as {{ dbt.type_string() }}),
        cast(null as {{ dbt.type_string() }}),
        0,
        0,
        cast(null as {{ dbt.type_string() }})
    from orders_all
    where not is_cancelled
        and customer_id is not null

    union all

    select
        customer_id,
        occurred_at,
        1,
        cast(null as {{ dbt.type_string() }}),
        cast(null as {{ dbt.type_string() }}),
        0,
        0,
        0,
        case when event_type = 'open' then channel end,
        case
            when channel in ('email', 'sms', 'push') and event_type = 'click' then channel
            when channel = 'social' and event_type in ('like', 'share', 'message') then channel
        end,
        case when channel = 'social' and event_type = 'follow' then 1 else 0 end,
        case when channel = 'social' and event_type = 'unfollow' then 1 else 0 end,
        cast(null as {{ dbt.type_string() }})
    from engagement_events
    where channel in ('email', 'sms', 'push', 'social')
        and event_type in ('open', 'click', 'like', 'share', 'message', 'follow', 'unfollow')

    union all

    select
        customer_id,
        started_at,
        1,
        cast(null as {{ dbt.type_string() }}),
        cast(null as {{ dbt.type_string() }}),
        0,
        0,
        0,
        cast(null as {{ dbt.type_string() }}),
        cast(null as {{ dbt.type_string() }}),
        0,
        0,
        channel
    from sessions

),

running as (

    select
        customer_id,
        anchor_id,
        sum(is_order) over history as orders_before,
        sum(order_revenue) over history as revenue_before,
        sum(is_discounted_order) over history as discounted_orders_before,
        min(case when is_order = 1 then event_at end) over history as first_order_at,
        max(case when is_order = 1 then event_at end) over history as last_order_at,
        max(case when response_channel is not null then event_at end) over history as last_response_at,
        sum(case when response_channel is not null then 1 else 0 end) over history as responses_before,
        {% for channel in channels %}
        sum(case when touch_channel = '{{ channel }}' then 1 else 0 end) over history
            as {{ channel }}_touches_before,
        sum(case when response_channel = '{{ channel }}' then 1 else 0 end) over history
            as {{ channel }}_responses_before,
        {% endfor %}
        sum(case when open_channel = 'email' then 1 else 0 end) over history as email_opens_before,
        sum(case when open_channel = 'push' then 1 else 0 end) over history as push_opens_before,
        sum(is_follow) over history as social_follows_before,
        sum(is_unfollow) over history as social_unfollows_before,
        sum(case when session_channel = 'web' then 1 else 0 end) over history as web_sessions_before,
        sum(case when session_channel = 'app' then 1 else 0 end) over history as app_sessions_before
    from timeline
    window history as (
        partition by customer_id
        order by event_at, sort_rank, anchor_id
        rows between unbounded preceding and 1 preceding
    )

),

final as (

    select
        points.point_id,
        points.point_type,
        points.customer_id,
        points.channel,
        points.point_at,
        points.campaign_id,
        cast(coalesce(running.orders_before, 0) as {{ dbt.type_bigint() }}) as orders_before,
        cast(coalesce(running.revenue_before, 0) as {{ type_double() }}) as revenue_before,
        cast(coalesce(running.discounted_orders_before, 0) as {{ dbt.type_bigint() }})
            as discounted_orders_before,
        {{ dbt.datediff('running.last_order_at', 'points.point_at', 'day') }} as days_since_last_order,
        {{ dbt.datediff('running.first_order_at', 'points.point_at', 'day') }} as days_since_first_order,
        {{ dbt.datediff('running.last_response_at', 'points.point_at', 'day') }} as days_since_last_response,
        greatest({{ dbt.datediff('customers.first_seen_at', 'points.point_at', 'day') }}, 0) as tenure_days,
        coalesce(profiles.first_signed_up_at <= points.point_at, false) as is_member,
        {% for channel in channels %}
        cast(coalesce(running.{{ channel }}_touches_before, 0) as {{ dbt.type_bigint() }})
            as {{ channel }}_touches_before,
        cast(coalesce(running.{{ channel }}_responses_before, 0) as {{ dbt.type_bigint() }})
            as {{ channel }}_responses_before,
        {% endfor %}
        cast(coalesce(running.email_opens_before, 0) as {{ dbt.type_bigint() }}) as email_opens_before,
        cast(coalesce(running.push_opens_before, 0) as {{ dbt.type_bigint() }}) as push_opens_before,
        coalesce(running.social_follows_before, 0) > coalesce(running.social_unfollows_before, 0)
            as is_social_follower,
        cast(coalesce(running.web_sessions_before, 0) as {{ dbt.type_bigint() }}) as web_sessions_before,
        cast(coalesce(running.app_sessions_before, 0) as {{ dbt.type_bigint() }}) as app_sessions_before,
        {% for days in lookbacks %}
        {% for measure in ['orders', 'responses', 'web_sessions', 'app_sessions', 'email_opens', 'push_opens'] %}
        cast(
            coalesce(running.{{ measure }}_before, 0) - coalesce(running_{{ days }}.{{ measure }}_before, 0)
            as {{ dbt.type_bigint() }}
        ) as {{ measure }}_last_{{ days }}_days,
        {% endfor %}
        cast(
            coalesce(running.revenue_before, 0) - coalesce(running_{{ days }}.revenue_before, 0)
            as {{ type_double() }}
        ) as revenue_last_{{ days }}_days,
        {% endfor %}
        points.window_ends_at,
        points.is_window_closed,
        points.is_responded,
        points.is_clicked,
        points.is_converted

    from points
    inner join running
        on points.customer_id = running.customer_id
        and points.point_id = running.anchor_id
    {% for days in lookbacks %}
    inner join running as running_{{ days }}
        on points.customer_id = running_{{ days }}.customer_id
        and {{ dbt.concat(['points.point_id', "'@" ~ days ~ "'"]) }} = running_{{ days }}.anchor_id
    {% endfor %}
    left join customers
        on points.customer_id = customers.customer_id
    left join profiles
        on points.customer_id = profiles.customer_id

)

select * from final
