{#-
    Point-in-time customer features at several cutoffs (feature_snapshot_cutoffs), for
    churn training without leakage:

    - `score`: cutoff = the as-of date (var `as_of_date`, default the last order date);
      every customer of dim_customers. customer_features is this snapshot.
    - `test`:  cutoff = as-of - var `churn_horizon_days`; customers with a completed order
      by then. Its label window ends on the as-of date, so it is fully observed.
    - `train`: cutoffs = as-of - k x `churn_horizon_days` for k = 2 .. 1 + var
      `churn_train_cutoffs`; same population rule. Several cutoffs give the model more
      (and more varied) examples; each has its label window before the test cutoff.

    Every feature of a snapshot uses only rows dated on or before its cutoff (orders by
    ordered_on, events by occurred_on, tickets by opened_at); the label uses only the
    `churn_horizon_days` after it. Event-grain data is reduced to sessions and messages
    here (order lines to categories in customer_category_mix), in SQL, so Python models
    only ever read customer-grain rows.
-#}

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

category_mix as (

    select * from {{ ref('customer_category_mix') }}
    where category_rank = 1

),

tickets as (

    select * from {{ ref('stg_service_tickets__tickets') }}

),

ticket_customers as (

    select * from {{ ref('int_records_resolved') }}
    where source_model = 'stg_service_tickets__tickets'

),

cutoffs as (

    select * from {{ ref('feature_snapshot_cutoffs') }}

),

-- orders ---------------------------------------------------------------------------

completed_orders_sequenced as (

    select
        order_id,
        customer_id,
        ordered_on,
        lag(ordered_on) over (partition by customer_id order by ordered_at, order_id) as previous_ordered_on
    from orders
    where is_completed

),

orders_with_gaps as (

    select
        orders.*,
        {{ dbt.datediff(
            'completed_orders_sequenced.previous_ordered_on', 'completed_orders_sequenced.ordered_on', 'day'
        ) }} as gap_days
    from orders
    left join completed_orders_sequenced
        on orders.order_id = completed_orders_sequenced.order_id

),

order_features as (

    select
        cutoffs.snapshot_role,
        cutoffs.cutoff_date,
        orders.customer_id,
        sum(case when orders.is_completed then 1 else 0 end) as order_count,
        min(case when orders.is_completed then orders.ordered_on end) as first_order_on,
        max(case when orders.is_completed then orders.ordered_on end) as last_order_on,
        sum(orders.revenue_amount) as monetary_total,
        sum(case when orders.is_completed then orders.net_amount else 0 end) as completed_net_amount,
        sum(case when orders.is_completed then orders.gross_amount else 0 end) as completed_gross_amount,
        sum(case when orders.is_completed then orders.discount_amount else 0 end) as completed_discount_amount,
        sum(
            case
                when orders.is_completed
                    and orders.ordered_on > {{ dbt.dateadd('day', -90, 'cutoffs.cutoff_date') }}
                    then 1
                else 0
            end
        ) as orders_last_90_days,
        sum(
            case
                when orders.is_completed
                    and orders.ordered_on > {{ dbt.dateadd('day', -365, 'cutoffs.cutoff_date') }}
                    then 1
                else 0
            end
        ) as orders_last_365_days,
        sum(
            case
                when orders.is_completed
                    and orders.ordered_on > {{ dbt.dateadd('day', -365, 'cutoffs.cutoff_date') }}
                    then orders.net_amount
                else 0
            end
        ) as revenue_last_365_days,
        sum(case when orders.is_completed and orders.channel = 'web' then 1 else 0 end) as web_order_count,
        sum(case when orders.is_completed and orders.channel = 'app' then 1 else 0 end) as app_order_count,
        sum(case when orders.is_completed and orders.channel = 'marketplace' then 1 else 0 end)
            as marketplace_order_count,
        sum(case when orders.is_completed and orders.channel = 'store' then 1 else 0 end) as store_order_count,
        sum(case when orders.is_completed and orders.has_coupon then 1 else 0 end) as coupon_order_count,
        sum(case when orders.is_returned then 1 else 0 end) as returned_order_count,
        sum(case when orders.order_type = 'sale' and not orders.is_cancelled then 1 else 0 end)
            as placed_order_count,
        avg(cast(orders.gap_days as {{ type_double() }})) as mean_gap_days,
        stddev_samp(cast(orders.gap_days as {{ type_double() }})) as stddev_gap_days
    from cutoffs
    inner join orders_with_gaps as orders
        on orders.ordered_on <= cutoffs.cutoff_date
    group by cutoffs.snapshot_role, cutoffs.cutoff_date, orders.customer_id

),

horizon_orders as (

    select
        cutoffs.snapshot_role,
        cutoffs.cutoff_date,
        orders.customer_id,
        count(*) as horizon_order_count,
        sum(orders.net_amount) as horizon_net_amount
    from cutoffs
    inner join orders
        on orders.is_completed
        and orders.ordered_on > cutoffs.cutoff_date
        and orders.ordered_on <= {{ dbt.dateadd('day', 'cutoffs.horizon_days', 'cutoffs.cutoff_date') }}
    where cutoffs.snapshot_role <> 'score'
    group by cutoffs.snapshot_role, cutoffs.cutoff_date, orders.customer_id

),

-- engagement -----------------------------------------------------------------------

sessions as (

    select
        customer_id,
        channel,
        session_id,
        min(occurred_on) as session_on,
        max(case when event_type = 'add_to_cart' then 1 else 0 end) as has_cart,
        max(case when event_type = 'checkout' then 1 else 0 end) as has_checkout,
        sum(case when event_type = 'product_view' then 1 else 0 end) as product_view_count
    from engagement_events
    where channel in ('web', 'app')
        and session_id is not null
    group by customer_id, channel, session_id

),

session_features as (

    select
        cutoffs.cutoff_date,
        sessions.customer_id,
        sum(
            case
                when sessions.channel = 'web'
                    and sessions.session_on > {{ dbt.dateadd('day', -90, 'cutoffs.cutoff_date') }}
                    then 1
                else 0
            end
        ) as web_sessions_last_90_days,
        sum(
            case
                when sessions.channel = 'app'
                    and sessions.session_on > {{ dbt.dateadd('day', -90, 'cutoffs.cutoff_date') }}
                    then 1
                else 0
            end
        ) as app_sessions_last_90_days,
        sum(
            case
                when sessions.session_on > {{ dbt.dateadd('day', -30, 'cutoffs.cutoff_date') }}
                    then sessions.product_view_count
                else 0
            end
        ) as product_views_last_30_days,
        sum(
            case
                when sessions.session_on > {{ dbt.dateadd('day', -365, 'cutoffs.cutoff_date') }}
                    then sessions.has_cart
                else 0
            end
        ) as cart_session_count,
        sum(
            case
                when sessions.session_on > {{ dbt.dateadd('day', -365, 'cutoffs.cutoff_date') }}
                    and sessions.has_cart = 1
                    and sessions.has_checkout = 0
                    then 1
                else 0
            end
        ) as abandoned_cart_session_count,
        max(case when sessions.channel = 'web' then sessions.session_on end) as last_web_session_on,
        max(case when sessions.channel = 'app' then sessions.session_on end) as last_app_session_on
    from cutoffs
    inner join sessions
        on sessions.session_on <= cutoffs.cutoff_date
    group by cutoffs.cutoff_date, sessions.customer_id

),

messages as (

    -- one row per message (customer, channel, campaign; campaign-less events count one
    -- per event), as in the customer engagement aggregate: repeated opens count once
    select
        customer_id,
        channel,
        coalesce(campaign_id, engagement_id) as message_id,
        min(occurred_on) as sent_on,
        max(case when event_type = 'delivered' then 1 else 0 end) as is_delivered,
        min(case when event_type in ('open', 'click') then occurred_on end) as first_opened_on,
        min(case when event_type = 'click' then occurred_on end) as first_clicked_on
    from engagement_events
    where channel in ('email', 'sms', 'push')
        and event_type in ('sent', 'delivered', 'open', 'click')
    group by customer_id, channel, coalesce(campaign_id, engagement_id)

),

message_features as (

    select
        cutoffs.cutoff_date,
        messages.customer_id,
        {%- for channel in ['email', 'sms', 'push'] %}
        sum(
            case
                when messages.channel = '{{ channel }}'
                    and messages.sent_on > {{ dbt.dateadd('day', -365, 'cutoffs.cutoff_date') }}
                    then messages.is_delivered
                else 0
            end
        ) as {{ channel }}_delivered_count,
        sum(
            case
                when messages.channel = '{{ channel }}'
                    and messages.sent_on > {{ dbt.dateadd('day', -365, 'cutoffs.cutoff_date') }}
                    and messages.first_opened_on <= cutoffs.cutoff_date
                    then 1
                else 0
            end
        ) as {{ channel }}_opened_count,
        sum(
            case
                when messages.channel = '{{ channel }}'
                    and messages.sent_on > {{ dbt.dateadd('day', -365, 'cutoffs.cutoff_date') }}
                    and messages.first_clicked_on <= cutoffs.cutoff_date
                    then 1
                else 0
            end
        ) as {{ channel }}_clicked_count,
        {%- endfor %}
        {%- for channel in ['email', 'sms', 'push'] %}
        max(
            case
                when messages.channel = '{{ channel }}' and messages.first_opened_on <= cutoffs.cutoff_date
                    then messages.first_opened_on
            end
        ) as last_{{ channel }}_opened_on,
        {%- endfor %}
        max(
            case
                when messages.first_opened_on <= cutoffs.cutoff_date then messages.first_opened_on
            end
        ) as last_message_opened_on
    from cutoffs
    inner join messages
        on messages.sent_on <= cutoffs.cutoff_date
    group by cutoffs.cutoff_date, messages.customer_id

),

social_features as (

    select
        cutoffs.cutoff_date,
        engagement_events.customer_id,
        sum(
            case
                when engagement_events.occurred_on > {{ dbt.dateadd('day', -365, 'cutoffs.cutoff_date') }}
                    then 1
                else 0
            end
        ) as social_interactions_last_365_days,
        max(engagement_events.occurred_on) as last_social_on
    from cutoffs
    inner join engagement_events
        on engagement_events.channel = 'social'
        and engagement_events.event_type <> 'unfollow'
        and engagement_events.occurred_on <= cutoffs.cutoff_date
    group by cutoffs.cutoff_date, engagement_events.customer_id

),

-- service --------------------------------------------------------------------------

ticket_features as (

    select
        cutoffs.cutoff_date,
        ticket_customers.customer_id,
        count(*) as ticket_count,
        avg(cast(tickets.csat_score as {{ type_double() }})) as mean_csat_score
    from cutoffs
    inner join tickets
        on cast(tickets.opened_at as date) <= cutoffs.cutoff_date
    inner join ticket_customers
        on tickets.ticket_id = ticket_customers.record_id
    group by cutoffs.cutoff_date, ticket_customers.customer_id

),

-- population and assembly ----------------------------------------------------------

population as (

    select
        cutoffs.snapshot_role,
        cutoffs.cutoff_date,
        customers.customer_id
    from cutoffs
    cross join customers
    where cutoffs.snapshot_role = 'score'

    union all

    select
        snapshot_role,
        cutoff_date,
        customer_id
    from order_features
    where snapshot_role <> 'score'
        and order_count > 0

),

assembled as (

    select
        population.customer_id,
        population.snapshot_role,
        population.cutoff_date,
        coalesce(order_features.order_count, 0) > 0 as is_buyer,
        order_features.first_order_on,
        order_features.last_order_on,
        {{ dbt.datediff('order_features.last_order_on', 'population.cutoff_date', 'day') }} as recency_days,
        coalesce(order_features.order_count, 0) as order_count,
        coalesce(order_features.monetary_total, 0) as monetary_total,
        order_features.completed_net_amount / nullif(order_features.order_count, 0) as average_order_value,
        {{ dbt.datediff('order_features.first_order_on', 'population.cutoff_date', 'day') }} as tenure_days,
        case
            when order_features.order_count > 1
                then cast(
                    {{ dbt.datediff('order_features.first_order_on', 'order_features.last_order_on', 'day') }}
                    as {{ type_double() }}
                ) / (order_features.order_count - 1)
        end as mean_interpurchase_days,
        order_features.stddev_gap_days / nullif(order_features.mean_gap_days, 0) as interpurchase_cv,
        coalesce(order_features.orders_last_90_days, 0) as orders_last_90_days,
        coalesce(order_features.orders_last_365_days, 0) as orders_last_365_days,
        coalesce(order_features.revenue_last_365_days, 0) as revenue_last_365_days,
        cast(order_features.web_order_count as {{ type_double() }})
            / nullif(order_features.order_count, 0) as web_order_share,
        cast(order_features.app_order_count as {{ type_double() }})
            / nullif(order_features.order_count, 0) as app_order_share,
        cast(order_features.marketplace_order_count as {{ type_double() }})
            / nullif(order_features.order_count, 0) as marketplace_order_share,
        cast(order_features.store_order_count as {{ type_double() }})
            / nullif(order_features.order_count, 0) as store_order_share,
        cast(order_features.completed_discount_amount as {{ type_double() }})
            / nullif(order_features.completed_gross_amount, 0) as discount_share,
        cast(order_features.coupon_order_count as {{ type_double() }})
            / nullif(order_features.order_count, 0) as coupon_order_share,
        cast(order_features.returned_order_count as {{ type_double() }})
            / nullif(order_features.placed_order_count, 0) as return_rate,
        cast(message_features.email_opened_count as {{ type_double() }})
            / nullif(message_features.email_delivered_count, 0) as email_open_rate,
        cast(message_features.email_clicked_count as {{ type_double() }})
            / nullif(message_features.email_delivered_count, 0) as email_click_rate,
        cast(message_features.push_opened_count as {{ type_double() }})
            / nullif(message_features.push_delivered_count, 0) as push_open_rate,
        cast(message_features.sms_clicked_count as {{ type_double() }})
            / nullif(message_features.sms_delivered_count, 0) as sms_click_rate,
        coalesce(session_features.web_sessions_last_90_days, 0) as web_sessions_last_90_days,
        coalesce(session_features.app_sessions_last_90_days, 0) as app_sessions_last_90_days,
        coalesce(session_features.product_views_last_30_days, 0) as product_views_last_30_days,
        cast(session_features.abandoned_cart_session_count as {{ type_double() }})
            / nullif(session_features.cart_session_count, 0) as cart_abandonment_rate,
        session_features.last_web_session_on,
        session_features.last_app_session_on,
        message_features.last_email_opened_on,
        message_features.last_sms_opened_on,
        message_features.last_push_opened_on,
        message_features.last_message_opened_on,
        social_features.last_social_on,
        -- greatest() skips nulls (null only when the customer never engaged)
        greatest(
            session_features.last_web_session_on,
            session_features.last_app_session_on,
            message_features.last_message_opened_on,
            social_features.last_social_on
        ) as last_engaged_on,
        coalesce(social_features.social_interactions_last_365_days, 0) as social_interactions_last_365_days,
        coalesce(ticket_features.ticket_count, 0) as ticket_count,
        ticket_features.mean_csat_score,
        coalesce(customers.signed_up_at <= population.cutoff_date, false) as is_member,
        category_mix.category as favourite_category,
        category_mix.item_share as favourite_category_share,
        coalesce(category_mix.distinct_category_count, 0) as distinct_category_count,
        horizon_orders.horizon_order_count,
        horizon_orders.horizon_net_amount
    from population
    left join order_features
        on population.cutoff_date = order_features.cutoff_date
        and population.customer_id = order_features.customer_id
    left join session_features
        on population.cutoff_date = session_features.cutoff_date
        and population.customer_id = session_features.customer_id
    left join message_features
        on population.cutoff_date = message_features.cutoff_date
        and population.customer_id = message_features.customer_id
    left join social_features
        on population.cutoff_date = social_features.cutoff_date
        and population.customer_id = social_features.customer_id
    left join ticket_features
        on population.cutoff_date = ticket_features.cutoff_date
        and population.customer_id = ticket_features.customer_id
    left join category_mix
        on population.cutoff_date = category_mix.cutoff_date
        and population.customer_id = category_mix.customer_id
    left join horizon_orders
        on population.cutoff_date = horizon_orders.cutoff_date
        and population.customer_id = horizon_orders.customer_id
    left join customers
        on population.customer_id = customers.customer_id

),

final as (

    select
        {{ dbt.concat([
            'snapshot_role', "'|'", dbt.safe_cast('cutoff_date', dbt.type_string()), "'|'", 'customer_id'
        ]) }} as feature_snapshot_id,
        customer_id,
        snapshot_role,
        cutoff_date,
        is_buyer,
        first_order_on,
        last_order_on,
        cast(recency_days as {{ dbt.type_int() }}) as recency_days,
        cast(order_count as {{ dbt.type_int() }}) as order_count,
        cast(monetary_total as {{ type_money() }}) as monetary_total,
        cast(average_order_value as {{ type_money() }}) as average_order_value,
        cast(tenure_days as {{ dbt.type_int() }}) as tenure_days,
        mean_interpurchase_days,
        interpurchase_cv,
        recency_days / nullif(mean_interpurchase_days, 0) as recency_to_interpurchase_ratio,
        -- the BG/NBD rate estimate (orders over time since the first one), floored at 30 days
        case
            when order_count > 0
                then cast(order_count as {{ type_double() }}) * 365.25 / greatest(tenure_days, 30)
        end as orders_per_year,
        cast(orders_last_90_days as {{ dbt.type_int() }}) as orders_last_90_days,
        cast(orders_last_365_days as {{ dbt.type_int() }}) as orders_last_365_days,
        cast(revenue_last_365_days as {{ type_money() }}) as revenue_last_365_days,
        web_order_share,
        app_order_share,
        marketplace_order_share,
        store_order_share,
        discount_share,
        coupon_order_share,
        return_rate,
        email_open_rate,
        email_click_rate,
        push_open_rate,
        sms_click_rate,
        cast(web_sessions_last_90_days as {{ dbt.type_int() }}) as web_sessions_last_90_days,
        cast(app_sessions_last_90_days as {{ dbt.type_int() }}) as app_sessions_last_90_days,
        cast(product_views_last_30_days as {{ dbt.type_int() }}) as product_views_last_30_days,
        cart_abandonment_rate,
        cast({{ dbt.datediff('last_engaged_on', 'cutoff_date', 'day') }} as {{ dbt.type_int() }})
            as days_since_last_engagement,
        cast({{ dbt.datediff('last_web_session_on', 'cutoff_date', 'day') }} as {{ dbt.type_int() }})
            as days_since_last_web_session,
        cast({{ dbt.datediff('last_app_session_on', 'cutoff_date', 'day') }} as {{ dbt.type_int() }})
            as days_since_last_app_session,
        cast({{ dbt.datediff('last_email_opened_on', 'cutoff_date', 'day') }} as {{ dbt.type_int() }})
            as days_since_last_email_open,
        cast({{ dbt.datediff('last_sms_opened_on', 'cutoff_date', 'day') }} as {{ dbt.type_int() }})
            as days_since_last_sms_click,
        cast({{ dbt.datediff('last_push_opened_on', 'cutoff_date', 'day') }} as {{ dbt.type_int() }})
            as days_since_last_push_open,
        cast({{ dbt.datediff('last_social_on', 'cutoff_date', 'day') }} as {{ dbt.type_int() }})
            as days_since_last_social_interaction,
        cast(social_interactions_last_365_days as {{ dbt.type_int() }}) as social_interactions_last_365_days,
        cast(ticket_count as {{ dbt.type_int() }}) as ticket_count,
        mean_csat_score,
        is_member,
        favourite_category,
        favourite_category_share,
        cast(distinct_category_count as {{ dbt.type_int() }}) as distinct_category_count,
        case
            when snapshot_role <> 'score' then coalesce(horizon_order_count, 0) = 0
        end as is_churned,
        case
            when snapshot_role <> 'score' then cast(coalesce(horizon_order_count, 0) as {{ dbt.type_int() }})
        end as horizon_order_count,
        case
            when snapshot_role <> 'score' then cast(coalesce(horizon_net_amount, 0) as {{ type_money() }})
        end as horizon_net_amount

    from assembled

)

select * from final
