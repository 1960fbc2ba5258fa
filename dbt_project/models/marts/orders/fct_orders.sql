with

orders as (

    select * from {{ ref('int_orders_unioned') }}

),

final as (

    select
        order_id,
        customer_id,
        order_source,
        channel,
        is_online,
        store_id,
        order_type,
        order_status,
        is_completed,
        is_returned,
        is_cancelled,
        currency,
        local_net_amount,
        line_count,
        item_count,
        gross_amount,
        discount_amount,
        net_amount,
        cost_amount,
        margin_amount,
        revenue_amount,
        has_coupon,
        coupon_code,
        campaign_id,
        ordered_at,
        ordered_on,
        returned_at

    from orders

)

select * from final
