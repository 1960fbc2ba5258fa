{#-
    Product-category mix of every buyer at every cutoff of feature_snapshot_cutoffs
    (score = the as-of date, test and train = earlier cutoffs): one row per customer,
    cutoff and category bought, with the items, the net amount and their shares of the
    customer's total. Long rather than one column per category, so that any catalogue
    works without changing a contract; customer_feature_snapshots summarises it per
    customer (favourite category, its share, breadth) and the segmentation assets read
    the `score` rows to profile each segment's mix.

    Items of completed orders placed on or before the cutoff (shop order lines and store
    basket lines joined to the product catalogue); an order's net amount is split over
    its categories in proportion to their items.
-#}
with

orders as (

    select * from {{ ref('fct_orders') }}
    where customer_id is not null
        and is_completed

),

cutoffs as (

    select * from {{ ref('feature_snapshot_cutoffs') }}

),

shop_order_lines as (

    select * from {{ ref('stg_shop_orders__order_lines') }}

),

pos_transaction_lines as (

    select * from {{ ref('stg_pos_transactions__transaction_lines') }}

),

products as (

    select * from {{ ref('stg_products__products') }}

),

order_lines as (

    select
        'shop' as order_source,
        order_id,
        product_id,
        quantity
    from shop_order_lines

    union all

    select
        'pos' as order_source,
        transaction_id as order_id,
        product_id,
        quantity
    from pos_transaction_lines

),

order_categories as (

    -- one row per order and category
    select
        orders.order_source,
        orders.order_id,
        orders.customer_id,
        orders.ordered_on,
        orders.net_amount,
        products.category,
        sum(abs(order_lines.quantity)) as item_count
    from orders
    inner join order_lines
        on orders.order_source = order_lines.order_source
        and orders.order_id = order_lines.order_id
    inner join products
        on order_lines.product_id = products.product_id
    group by
        orders.order_source,
        orders.order_id,
        orders.customer_id,
        orders.ordered_on,
        orders.net_amount,
        products.category

),

order_category_amounts as (

    -- the order's net amount split over its categories by items (discounts are per order),
    -- rounded to money per order so that the sums below are exact decimals: summed as
    -- doubles they vary in the last bits with the thread schedule and the cent can flip
    select
        customer_id,
        ordered_on,
        category,
        item_count,
        cast(
            net_amount * item_count
            / nullif(sum(item_count) over (partition by order_source, order_id), 0)
            as {{ type_money() }}
        ) as net_amount
    from order_categories

),

category_items as (

    select
        cutoffs.snapshot_role,
        cutoffs.cutoff_date,
        order_category_amounts.customer_id,
        order_category_amounts.category,
        sum(order_category_amounts.item_count) as item_count,
        sum(order_category_amounts.net_amount) as net_amount
    from cutoffs
    inner join order_category_amounts
        on order_category_amounts.ordered_on <= cutoffs.cutoff_date
    group by
        cutoffs.snapshot_role,
        cutoffs.cutoff_date,
        order_category_amounts.customer_id,
        order_category_amounts.category

),

final as (

    select
        {{ dbt.concat([
            'snapshot_role', "'|'", dbt.safe_cast('cutoff_date', dbt.type_string()), "'|'",
            'customer_id', "'|'", 'category'
        ]) }} as category_mix_id,
        snapshot_role,
        cutoff_date,
        customer_id,
        category,
        cast(item_count as {{ dbt.type_int() }}) as item_count,
        cast(net_amount as {{ type_money() }}) as net_amount,
        cast(item_count as {{ type_double() }})
        / nullif(sum(item_count) over (partition by snapshot_role, cutoff_date, customer_id), 0)
            as item_share,
        cast(net_amount as {{ type_double() }})
        / nullif(sum(net_amount) over (partition by snapshot_role, cutoff_date, customer_id), 0)
            as net_amount_share,
        cast(
            count(*) over (partition by snapshot_role, cutoff_date, customer_id) as {{ dbt.type_int() }}
        ) as distinct_category_count,
        cast(
            row_number() over (
                partition by snapshot_role, cutoff_date, customer_id
                order by item_count desc, category
            ) as {{ dbt.type_int() }}
        ) as category_rank

    from category_items

)

select * from final
