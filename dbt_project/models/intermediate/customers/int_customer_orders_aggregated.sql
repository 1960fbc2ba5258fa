with

orders as (

    select * from {{ ref('int_orders_unioned') }}
    where customer_id is not null

),

customer_orders as (

    select
        customer_id,

        -- counts: completed sales are "orders"; returned and cancelled kept apart
        sum(case when is_completed then 1 else 0 end) as order_count,
        sum(case when order_type = 'sale' then 1 else 0 end) as placed_order_count,
        sum(case when is_returned then 1 else 0 end) as returned_order_count,
        sum(case when is_cancelled then 1 else 0 end) as cancelled_order_count,
        sum(case when is_completed and has_coupon then 1 else 0 end) as coupon_order_count,
        sum(case when is_completed and is_online then 1 else 0 end) as online_order_count,
        sum(case when is_completed and not is_online then 1 else 0 end) as store_order_count,
        sum(case when is_completed then item_count else 0 end) as item_count,

        -- money
        sum(revenue_amount) as total_revenue,
        sum(case when is_completed then net_amount else 0 end) as completed_net_amount,
        sum(case when is_completed then discount_amount else 0 end) as total_discount,
        sum(case when is_completed then margin_amount else 0 end) as total_margin,

        -- dates
        min(case when is_completed then ordered_at end) as first_order_at,
        max(case when is_completed then ordered_at end) as last_order_at,
        min(ordered_at) as first_order_activity_at,
        max(ordered_at) as last_order_activity_at

    from orders
    group by customer_id

),

channel_orders as (

    select
        customer_id,
        channel,
        count(*) as channel_order_count,
        sum(net_amount) as channel_net_amount,
        max(ordered_at) as channel_last_order_at
    from orders
    where is_completed
    group by customer_id, channel

),

preferred_channel as (

    -- most completed orders; ties go to the higher spend, then the more recent
    -- order, then the channel name, so the choice is deterministic
    select
        customer_id,
        channel as preferred_shopping_channel
    from (
        select
            channel_orders.*,
            row_number() over (
                partition by customer_id
                order by
                    channel_order_count desc,
                    channel_net_amount desc,
                    channel_last_order_at desc,
                    channel
            ) as channel_rank
        from channel_orders
    ) as ranked_channels
    where channel_rank = 1

),

final as (

    select
        customer_orders.customer_id,
        cast(customer_orders.order_count as {{ dbt.type_bigint() }}) as order_count,
        cast(customer_orders.placed_order_count as {{ dbt.type_bigint() }}) as placed_order_count,
        cast(customer_orders.returned_order_count as {{ dbt.type_bigint() }}) as returned_order_count,
        cast(customer_orders.cancelled_order_count as {{ dbt.type_bigint() }}) as cancelled_order_count,
        cast(customer_orders.coupon_order_count as {{ dbt.type_bigint() }}) as coupon_order_count,
        cast(customer_orders.online_order_count as {{ dbt.type_bigint() }}) as online_order_count,
        cast(customer_orders.store_order_count as {{ dbt.type_bigint() }}) as store_order_count,
        cast(customer_orders.item_count as {{ dbt.type_bigint() }}) as item_count,
        cast(customer_orders.total_revenue as {{ type_money() }}) as total_revenue,
        cast(customer_orders.completed_net_amount as {{ type_money() }}) as completed_net_amount,
        cast(customer_orders.total_discount as {{ type_money() }}) as total_discount,
        cast(customer_orders.total_margin as {{ type_money() }}) as total_margin,
        cast(
            customer_orders.completed_net_amount / nullif(customer_orders.order_count, 0)
            as {{ type_money() }}
        ) as average_order_value,
        cast(customer_orders.coupon_order_count as {{ type_double() }})
            / nullif(customer_orders.order_count, 0) as coupon_usage_rate,
        cast(customer_orders.online_order_count as {{ type_double() }})
            / nullif(customer_orders.order_count, 0) as online_order_share,
        cast(customer_orders.store_order_count as {{ type_double() }})
            / nullif(customer_orders.order_count, 0) as store_order_share,
        preferred_channel.preferred_shopping_channel,
        customer_orders.first_order_at,
        customer_orders.last_order_at,
        customer_orders.first_order_activity_at,
        customer_orders.last_order_activity_at

    from customer_orders
    left join preferred_channel
        on customer_orders.customer_id = preferred_channel.customer_id

)

select * from final
