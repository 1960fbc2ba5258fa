with

source as (

    select * from {{ source('raw', 'products') }}

),

renamed as (

    select
        -- ids
        {{ normalize_id('product_id') }} as product_id,

        -- product attributes
        {{ normalize_id('product_name') }} as product_name,
        {{ normalize_id('category') }} as category,

        -- prices
        cast(list_price as {{ type_money() }}) as list_price,
        cast(unit_cost as {{ type_money() }}) as unit_cost,
        upper(trim(currency)) as currency,

        -- lineage
        _source_file,
        _source_row,
        _loaded_at

    from source

),

deduplicated as (

    {{ deduplicate_deliveries('renamed', ['product_id']) }}

),

final as (

    select
        product_id,
        product_name,
        category,
        list_price,
        unit_cost,
        currency,
        cast(list_price - unit_cost as {{ type_money() }}) as margin_amount,
        case
            when list_price > 0
                then cast(list_price - unit_cost as {{ type_double() }})
                    / cast(list_price as {{ type_double() }})
        end as margin_pct,
        _source_file,
        _source_row,
        _loaded_at

    from deduplicated

)

select * from final
