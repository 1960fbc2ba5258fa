{#-
    One row per order across the web shop / app / marketplace (shop_orders) and the
    physical stores (pos_transactions), with the resolved customer_id, product cost and
    margin, amounts in the reporting currency. A view: fct_orders persists it with its
    contract, and the per-customer aggregates read it without a second copy.

    Store returns arrive as separate return baskets without a reference to the sale.
    A return basket is matched to the customer's latest earlier sale with the same
    basket (same products, quantities and net line amounts in line order) — or, when
    the return or the sale has no resolved customer, to the latest earlier sale of
    that basket; one return per sale (the earlier return wins). The matched sale becomes
    a `returned` order (with returned_at) and the return basket is not a row of its
    own. A return that cannot be matched (no resolved customer, or the sale is outside
    the data) stays as an order of type `return` whose revenue is the negative refund.
-#}
{{ config(materialized='view') }}

with

shop_orders as (

    select * from {{ ref('stg_shop_orders__orders') }}

),

shop_order_lines as (

    select * from {{ ref('stg_shop_orders__order_lines') }}

),

pos_transactions as (

    select * from {{ ref('stg_pos_transactions__transactions') }}

),

pos_transaction_lines as (

    select * from {{ ref('stg_pos_transactions__transaction_lines') }}

),

products as (

    select * from {{ ref('stg_products__products') }}

),

records_resolved as (

    select * from {{ ref('int_records_resolved') }}

),

shop_order_costs as (

    select
        shop_order_lines.order_id,
        sum(
            abs(shop_order_lines.quantity)
            * {{ rfm_to_reporting_currency('products.unit_cost', 'products.currency') }}
        ) as cost_amount,
        count(products.unit_cost) = count(*) as is_cost_known
    from shop_order_lines
    left join products
        on shop_order_lines.product_id = products.product_id
    group by shop_order_lines.order_id

),

pos_transaction_baskets as (

    select
        pos_transaction_lines.transaction_id,
        sum(
            abs(pos_transaction_lines.quantity)
            * {{ rfm_to_reporting_currency('products.unit_cost', 'products.currency') }}
        ) as cost_amount,
        count(products.unit_cost) = count(*) as is_cost_known,
        -- what was bought, to recognise the sale a return basket gives back
        {{ dbt.listagg(
            dbt.concat([
                "coalesce(pos_transaction_lines.product_id, '?')",
                "':'",
                dbt.safe_cast('abs(pos_transaction_lines.quantity)', dbt.type_string()),
                "':'",
                dbt.safe_cast('abs(pos_transaction_lines.net_amount)', dbt.type_string()),
            ]),
            "'|'",
            'order by pos_transaction_lines.line_number',
        ) }} as basket_fingerprint
    from pos_transaction_lines
    left join products
        on pos_transaction_lines.product_id = products.product_id
    group by pos_transaction_lines.transaction_id

),

pos_transactions_resolved as (

    select
        pos_transactions.*,
        records_resolved.customer_id,
        pos_transaction_baskets.cost_amount,
        pos_transaction_baskets.is_cost_known,
        pos_transaction_baskets.basket_fingerprint
    from pos_transactions
    left join pos_transaction_baskets
        on pos_transactions.transaction_id = pos_transaction_baskets.transaction_id
    left join records_resolved
        on records_resolved.source_model = 'stg_pos_transactions__transactions'
        and pos_transactions.transaction_id = records_resolved.record_id

),

return_candidates as (

    -- each return basket -> an earlier sale of the same basket: the same customer's
    -- latest, else (a side without resolved customer) the latest such sale
    select
        returns.transaction_id as return_transaction_id,
        returns.transacted_at as returned_at,
        sales.transaction_id as sale_transaction_id,
        row_number() over (
            partition by returns.transaction_id
            order by
                case when returns.customer_id = sales.customer_id then 0 else 1 end,
                sales.transacted_at desc,
                sales.transaction_id desc
        ) as sale_rank
    from pos_transactions_resolved as returns
    inner join pos_transactions_resolved as sales
        on returns.basket_fingerprint = sales.basket_fingerprint
        and sales.transacted_at <= returns.transacted_at
        and not sales.is_return
        and (
            returns.customer_id = sales.customer_id
            or returns.customer_id is null
            or sales.customer_id is null
        )
    where returns.is_return

),

return_matches as (

    -- one return per sale: when two returns point at the same sale, the earlier wins
    select
        return_transaction_id,
        returned_at,
        sale_transaction_id
    from (
        select
            return_candidates.*,
            row_number() over (
                partition by sale_transaction_id
                order by returned_at, return_transaction_id
            ) as return_rank
        from return_candidates
        where sale_rank = 1
    ) as ranked_returns
    where return_rank = 1

),

shop_orders_resolved as (

    select
        shop_orders.order_id,
        records_resolved.customer_id,
        'shop' as order_source,
        shop_orders.sales_channel as channel,
        cast(null as {{ dbt.type_string() }}) as store_id,
        'sale' as order_type,
        shop_orders.order_status,
        shop_orders.currency,
        shop_orders.line_count,
        shop_orders.item_quantity as item_count,
        shop_orders.gross_amount,
        shop_orders.discount_amount,
        shop_orders.net_amount,
        shop_order_costs.cost_amount,
        shop_order_costs.is_cost_known,
        shop_orders.coupon_code,
        shop_orders.campaign_id,
        shop_orders.ordered_at,
        cast(null as {{ dbt.type_timestamp() }}) as returned_at

    from shop_orders
    left join shop_order_costs
        on shop_orders.order_id = shop_order_costs.order_id
    left join records_resolved
        on records_resolved.source_model = 'stg_shop_orders__orders'
        and shop_orders.order_id = records_resolved.record_id

),

pos_orders as (

    select
        pos_transactions_resolved.transaction_id as order_id,
        pos_transactions_resolved.customer_id,
        'pos' as order_source,
        'store' as channel,
        pos_transactions_resolved.store_id,
        case when pos_transactions_resolved.is_return then 'return' else 'sale' end as order_type,
        case
            when pos_transactions_resolved.is_return or return_matches.sale_transaction_id is not null
                then 'returned'
            else 'completed'
        end as order_status,
        pos_transactions_resolved.currency,
        pos_transactions_resolved.line_count,
        abs(pos_transactions_resolved.item_quantity) as item_count,
        abs(pos_transactions_resolved.gross_amount) as gross_amount,
        abs(pos_transactions_resolved.discount_amount) as discount_amount,
        abs(pos_transactions_resolved.net_amount) as net_amount,
        pos_transactions_resolved.cost_amount,
        pos_transactions_resolved.is_cost_known,
        pos_transactions_resolved.coupon_code,
        cast(null as {{ dbt.type_string() }}) as campaign_id,
        pos_transactions_resolved.transacted_at as ordered_at,
        case
            when pos_transactions_resolved.is_return then pos_transactions_resolved.transacted_at
            else return_matches.returned_at
        end as returned_at

    from pos_transactions_resolved
    left join return_matches
        on pos_transactions_resolved.transaction_id = return_matches.sale_transaction_id
    -- matched return baskets are folded into their sale
    where not exists (
        select 1
        from return_matches as folded_returns
        where folded_returns.return_transaction_id = pos_transactions_resolved.transaction_id
    )

),

unioned as (

    select * from shop_orders_resolved
    union all
    select * from pos_orders

),

converted as (

    select
        unioned.*,
        {{ rfm_to_reporting_currency('gross_amount', 'currency') }} as reporting_gross_amount,
        {{ rfm_to_reporting_currency('discount_amount', 'currency') }} as reporting_discount_amount,
        {{ rfm_to_reporting_currency('net_amount', 'currency') }} as reporting_net_amount
    from unioned

),

final as (

    select
        order_id,
        customer_id,
        order_source,
        channel,
        channel <> 'store' as is_online,
        store_id,
        order_type,
        order_status,
        order_status = 'completed' as is_completed,
        order_status = 'returned' as is_returned,
        order_status = 'cancelled' as is_cancelled,
        currency,
        cast(line_count as {{ dbt.type_int() }}) as line_count,
        cast(item_count as {{ dbt.type_bigint() }}) as item_count,
        cast(net_amount as {{ type_money() }}) as local_net_amount,
        cast(reporting_gross_amount as {{ type_money() }}) as gross_amount,
        cast(reporting_discount_amount as {{ type_money() }}) as discount_amount,
        cast(reporting_net_amount as {{ type_money() }}) as net_amount,
        cast(case when is_cost_known then cost_amount end as {{ type_money() }}) as cost_amount,
        cast(
            case when is_cost_known then reporting_net_amount - cost_amount end
            as {{ type_money() }}
        ) as margin_amount,
        -- what the order adds to revenue: a completed sale its net amount, a returned or
        -- cancelled sale nothing, an unmatched store return basket its negative refund
        cast(
            case
                when order_type = 'return' then -reporting_net_amount
                when order_status = 'completed' then reporting_net_amount
                else 0
            end as {{ type_money() }}
        ) as revenue_amount,
        coupon_code is not null as has_coupon,
        coupon_code,
        campaign_id,
        ordered_at,
        cast({{ dbt.date_trunc('day', 'ordered_at') }} as date) as ordered_on,
        returned_at

    from converted

)

select * from final
