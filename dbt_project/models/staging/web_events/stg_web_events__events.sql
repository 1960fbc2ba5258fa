with

source as (

    select * from {{ source('raw', 'web_events') }}

),

renamed as (

    select
        -- ids
        {{ normalize_id('event_id') }} as event_id,
        {{ normalize_id('session_id') }} as session_id,
        {{ normalize_id('product_id') }} as product_id,
        {{ normalize_id('campaign_id') }} as campaign_id,

        -- visitor identifiers
        {{ normalize_id('cookie_id') }} as cookie_id,
        {{ normalize_email('account_email') }} as email,

        -- event attributes
        {{ normalize_category('event_type') }} as event_type,
        {{ normalize_category('referrer_channel') }} as referrer_channel,

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
        cookie_id,
        email,
        event_type,
        referrer_channel,
        occurred_at,
        _source_file,
        _source_row,
        _loaded_at

    from deduplicated

)

select * from final
