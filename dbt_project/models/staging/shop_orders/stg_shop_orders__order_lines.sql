with

source as (

    select * from {{ source('raw', 'shop_orders') }}

),

renamed as (

    select
        -- ids
        {{ normalize_id('order_id') }} as order_id,
        cast(line_number as {{ dbt.type_int() }}) as line_number,
        {{ normalize_id('product_id') }} as product_id,
        {{ normalize_id('campaign_id') }} as campaign_id,

        -- customer identifiers
        {{ normalize_id('account_id') }} as account_id,
        {{ normalize_email('account_email') }} as email,
        {{ normalize_phone('phone') }} as phone,
        {{ normalize_id('device_id') }} as device_id,

        -- order attributes
        {{ normalize_category('sales_channel') }} as sales_channel,
        {{ normalize_category('order_status') }} as order_status,
        {{ normalize_id('coupon_code') }} as coupon_code,
        upper(trim(currency)) as currency,

        -- line amounts
        cast(quantity as {{ dbt.type_int() }}) as quantity,
        cast(unit_price as {{ type_money() }}) as unit_price,
        cast(coalesce(discount_amount, 0) as {{ type_money() }}) as discount_amount,

        -- timestamps
        cast(ordered_at as {{ dbt.type_timestamp() }}) as ordered_at,

        -- lineage
        _source_file,
        _source_row,
        _loaded_at

    from source

),

deduplicated as (

    {{ deduplicate_deliveries('renamed', ['order_id', 'line_number']) }}

),

final as (

    select
        {{ dbt.concat(['order_id', "'-'", dbt.safe_cast('line_number', dbt.type_string())]) }}
            as order_line_id,
        order_id,
        line_number,
        product_id,
        campaign_id,
        account_id,
        email,
        phone,
        device_id,
        sales_channel,
        order_status,
        coupon_code,
        currency,
        quantity,
        unit_price,
        cast(quantity * unit_price as {{ type_money() }}) as gross_amount,
        discount_amount,
        cast(quantity * unit_price - discount_amount as {{ type_money() }}) as net_amount,
        ordered_at,
        _source_file,
        _source_row,
        _loaded_at

    from deduplicated

)

select * from final
