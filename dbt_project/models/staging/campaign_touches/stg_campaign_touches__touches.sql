with

source as (

    select * from {{ source('raw', 'campaign_touches') }}

),

renamed as (

    select
        -- ids
        {{ normalize_id('touch_id') }} as touch_id,
        {{ normalize_id('campaign_id') }} as campaign_id,

        -- recipient identifiers
        {{ normalize_email('email') }} as email,
        {{ normalize_phone('phone') }} as phone,
        {{ normalize_id('device_id') }} as device_id,
        {{ normalize_id('member_id') }} as member_id,
        {{ normalize_id('account_id') }} as account_id,

        -- touch attributes
        {{ normalize_category('channel') }} as channel,
        cast(is_control as {{ dbt.type_boolean() }}) as is_control,

        -- timestamps
        cast(touched_at as {{ dbt.type_timestamp() }}) as touched_at,

        -- lineage
        _source_file,
        _source_row,
        _loaded_at

    from source

),

deduplicated as (

    {{ deduplicate_deliveries('renamed', ['touch_id']) }}

),

final as (

    select
        touch_id,
        campaign_id,
        email,
        phone,
        device_id,
        member_id,
        account_id,
        channel,
        is_control,
        touched_at,
        _source_file,
        _source_row,
        _loaded_at

    from deduplicated

)

select * from final
