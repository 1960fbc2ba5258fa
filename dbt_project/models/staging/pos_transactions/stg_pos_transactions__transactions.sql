{#-
    One row per store transaction (basket), built from the deduplicated, normalised
    transaction lines. Header fields are taken from the lowest line number.
-#}
with

transaction_lines as (

    select * from {{ ref('stg_pos_transactions__transaction_lines') }}

),

ranked_lines as (

    select
        transaction_lines.*,
        row_number() over (partition by transaction_id order by line_number) as line_rank
    from transaction_lines

),

transaction_headers as (

    select
        transaction_id,
        store_id,
        loyalty_card_number,
        phone,
        transaction_type,
        coupon_code,
        currency,
        transacted_at,
        _source_file,
        _source_row,
        _loaded_at
    from ranked_lines
    where line_rank = 1

),

transaction_totals as (

    select
        transaction_id,
        count(*) as line_count,
        cast(sum(quantity) as {{ dbt.type_bigint() }}) as item_quantity,
        cast(sum(gross_amount) as {{ type_money() }}) as gross_amount,
        cast(sum(discount_amount) as {{ type_money() }}) as discount_amount,
        cast(sum(net_amount) as {{ type_money() }}) as net_amount
    from transaction_lines
    group by transaction_id

),

final as (

    select
        transaction_headers.transaction_id,
        transaction_headers.store_id,
        transaction_headers.loyalty_card_number,
        transaction_headers.phone,
        transaction_headers.transaction_type,
        transaction_headers.coupon_code,
        transaction_headers.currency,
        transaction_totals.line_count,
        transaction_totals.item_quantity,
        transaction_totals.gross_amount,
        transaction_totals.discount_amount,
        transaction_totals.net_amount,
        transaction_headers.transaction_type = 'return' as is_return,
        transaction_headers.coupon_code is not null as has_coupon,
        transaction_headers.transacted_at,
        cast({{ dbt.date_trunc('day', 'transaction_headers.transacted_at') }} as date) as transacted_on,
        transaction_headers._source_file,
        transaction_headers._source_row,
        transaction_headers._loaded_at

    from transaction_headers
    inner join transaction_totals
        on transaction_headers.transaction_id = transaction_totals.transaction_id

)

select * from final
