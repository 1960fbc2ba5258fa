with

source as (

    select * from {{ source('raw', 'campaigns') }}

),

renamed as (

    select
        -- ids
        {{ normalize_id('campaign_id') }} as campaign_id,

        -- campaign attributes
        {{ normalize_id('campaign_name') }} as campaign_name,
        {{ normalize_category('channel') }} as channel,
        {{ normalize_category('objective') }} as objective,
        {{ normalize_id('target_segment') }} as target_segment,
        cast(discount_pct as {{ type_double() }}) as discount_pct,

        -- cost
        cast(cost as {{ type_money() }}) as cost,
        upper(trim(currency)) as currency,

        -- timestamps
        cast(started_at as {{ dbt.type_timestamp() }}) as started_at,
        cast(ended_at as {{ dbt.type_timestamp() }}) as ended_at,

        -- lineage
        _source_file,
        _source_row,
        _loaded_at

    from source

),

deduplicated as (

    {{ deduplicate_deliveries('renamed', ['campaign_id']) }}

),

final as (

    select
        campaign_id,
        campaign_name,
        channel,
        objective,
        target_segment,
        discount_pct,
        coalesce(discount_pct, 0) > 0 as has_offer,
        cost,
        currency,
        {{ dbt.datediff('started_at', 'ended_at', 'day') }} as duration_days,
        started_at,
        ended_at,
        _source_file,
        _source_row,
        _loaded_at

    from deduplicated

)

select * from final
