{#-
    One row per order, built from the deduplicated, normalised order lines so that both
    models always agree. Header fields are repeated on every line in the landing file;
    they are taken from the lowest line number.
-#}
with

order_lines as (

    select * from {{ ref('stg_shop_orders__order_lines') }}

),

ranked_lines as (

    select
        order_lines.*,
        row_number() over (partition by order_id order by line_number) as line_rank
    from order_lines

),

order_headers as (

    select
        order_id,
        campaign_id,
        account_id,
        email,
        phone,
        device_id,
        sales_channel,
        order_status,
        coupon_code,
        currency,
        ordered_at,
        _source_file,
        _source_row,
        _loaded_at
    from ranked_lines
    where line_rank = 1

),

order_totals as (

    select
        order_id,
        count(*) as line_count,
        cast(sum(quantity) as {{ dbt.type_bigint() }}) as item_quantity,
        cast(sum(gross_amount) as {{ type_money() }}) as gross_amount,
        cast(sum(discount_amount) as {{ type_money() }}) as discount_amount,
        cast(sum(net_amount) as {{ type_money() }}) as net_amount
    from order_lines
    group by order_id

),

final as (

    select
        order_headers.order_id,
        order_headers.campaign_id,
        order_headers.account_id,
        order_headers.email,
        order_headers.phone,
        order_headers.device_id,
        order_headers.sales_channel,
        order_headers.order_status,
        order_headers.coupon_code,
        order_headers.currency,
        order_totals.line_count,
        order_totals.item_quantity,
        order_totals.gross_amount,
        order_totals.discount_amount,
        order_totals.net_amount,
        order_headers.order_status = 'completed' as is_completed,
        order_headers.coupon_code is not null as has_coupon,
        order_headers.ordered_at,
        cast({{ dbt.date_trunc('day', 'order_headers.ordered_at') }} as date) as ordered_on,
        order_headers._source_file,
        order_headers._source_row,
        order_headers._loaded_at

    from order_headers
    inner join order_totals
        on order_headers.order_id = order_totals.order_id

)

select * from final
