{#-
    How each buyer has used discounts: the evidence for their discount sensitivity
    (orchestration/ml/offers.py), one row per customer with an order that was not
    cancelled.

    The first order is left out of the discount counts: first orders carry welcome
    coupons that say nothing about the person, and leaving it out keeps one rule for
    every shop. Orders credited to a campaign are kept: a campaign offer taken up is as
    much evidence as a shop coupon.

    Order value and margin rate are at LIST price (gross, before discount): the offer
    policy prices a discount depth d as list value x (margin rate - d).
-#}
with

orders as (

    select * from {{ ref('int_orders_unioned') }}
    where not is_cancelled
        and customer_id is not null

),

numbered as (

    select
        customer_id,
        gross_amount,
        discount_amount,
        cost_amount,
        has_coupon,
        row_number() over (partition by customer_id order by ordered_at, order_id) as order_number
    from orders

),

final as (

    select
        customer_id,
        cast(count(*) as {{ dbt.type_bigint() }}) as order_count,
        cast(sum(case when order_number > 1 then 1 else 0 end) as {{ dbt.type_bigint() }}) as eligible_order_count,
        cast(
            sum(case when order_number > 1 and coalesce(discount_amount, 0) > 0 then 1 else 0 end)
            as {{ dbt.type_bigint() }}
        ) as discounted_order_count,
        cast(
            sum(case when order_number > 1 and has_coupon then 1 else 0 end) as {{ dbt.type_bigint() }}
        ) as coupon_order_count,
        cast(
            avg(case when order_number > 1 and coalesce(discount_amount, 0) > 0 and gross_amount > 0
                then discount_amount / gross_amount end) as {{ type_double() }}
        ) as mean_discount_depth,
        cast(avg(gross_amount) as {{ type_double() }}) as average_list_order_value,
        cast(
            case when sum(gross_amount) > 0 then 1 - sum(cost_amount) / sum(gross_amount) end
            as {{ type_double() }}
        ) as list_margin_rate

    from numbered
    group by customer_id

)

select * from final
