with

source as (

    select * from {{ source('raw', 'push_engagement') }}

),

renamed as (

    select
        -- ids
        {{ normalize_id('event_id') }} as event_id,
        {{ normalize_id('campaign_id') }} as campaign_id,

        -- recipient identifier
        {{ normalize_id('device_id') }} as device_id,

        -- event attributes
        {{ normalize_category('event_type') }} as event_type,

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
        campaign_id,
        device_id,
        event_type,
        occurred_at,
        _source_file,
        _source_row,
        _loaded_at

    from deduplicated

)

select * from final
