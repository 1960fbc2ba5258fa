with

source as (

    select * from {{ source('raw', 'pos_transactions') }}

),

renamed as (

    select
        -- ids
        {{ normalize_id('transaction_id') }} as transaction_id,
        cast(line_number as {{ dbt.type_int() }}) as line_number,
        {{ normalize_id('store_id') }} as store_id,
        {{ normalize_id('product_id') }} as product_id,

        -- customer identifiers
        {{ normalize_id('loyalty_card_number') }} as loyalty_card_number,
        {{ normalize_phone('phone') }} as phone,

        -- transaction attributes
        {{ normalize_category('transaction_type') }} as transaction_type,
        {{ normalize_id('coupon_code') }} as coupon_code,
        upper(trim(currency)) as currency,

        -- line amounts (as delivered: the contract does not say whether return lines
        -- carry negative quantities, so signs are not changed here)
        cast(quantity as {{ dbt.type_int() }}) as quantity,
        cast(unit_price as {{ type_money() }}) as unit_price,
        cast(coalesce(discount_amount, 0) as {{ type_money() }}) as discount_amount,

        -- timestamps
        cast(transacted_at as {{ dbt.type_timestamp() }}) as transacted_at,

        -- lineage
        _source_file,
        _source_row,
        _loaded_at

    from source

),

deduplicated as (

    {{ deduplicate_deliveries('renamed', ['transaction_id', 'line_number']) }}

),

final as (

    select
        {{ dbt.concat(['transaction_id', "'-'", dbt.safe_cast('line_number', dbt.type_string())]) }}
            as transaction_line_id,
        transaction_id,
        line_number,
        store_id,
        product_id,
        loyalty_card_number,
        phone,
        transaction_type,
        transaction_type = 'return' as is_return,
        coupon_code,
        currency,
        quantity,
        unit_price,
        cast(quantity * unit_price as {{ type_money() }}) as gross_amount,
        discount_amount,
        cast(quantity * unit_price - discount_amount as {{ type_money() }}) as net_amount,
        transacted_at,
        _source_file,
        _source_row,
        _loaded_at

    from deduplicated

)

select * from final
