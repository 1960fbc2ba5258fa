with

source as (

    select * from {{ source('raw', 'app_events') }}

),

renamed as (

    select
        -- ids
        {{ normalize_id('event_id') }} as event_id,
        {{ normalize_id('session_id') }} as session_id,
        {{ normalize_id('product_id') }} as product_id,
        {{ normalize_id('campaign_id') }} as campaign_id,

        -- user identifiers
        {{ normalize_id('device_id') }} as device_id,
        {{ normalize_id('account_id') }} as account_id,

        -- event attributes
        {{ normalize_category('event_type') }} as event_type,
        {{ normalize_category('platform') }} as platform,

        -- timestamps
        cast(occurred_at as {{ dbt.type_timestamp() }}) as occurred_at,

        -- lineage
        _source_file,
        _source_row,
        _loaded_at

    from source

),

deduplicated as (

    {{ deduplicate_deliveries('renamed', ['event_id']) }}

),

final as (

    select
        event_id,
        session_id,
        product_id,
        campaign_id,
        device_id,
        account_id,
        event_type,
        platform,
        occurred_at,
        _source_file,
        _source_row,
        _loaded_at

    from deduplicated

)

select * from final
