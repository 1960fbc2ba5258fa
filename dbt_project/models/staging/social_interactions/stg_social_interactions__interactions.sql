with

source as (

    select * from {{ source('raw', 'social_interactions') }}

),

renamed as (

    select
        -- ids
        {{ normalize_id('interaction_id') }} as interaction_id,
        {{ normalize_id('campaign_id') }} as campaign_id,

        -- user identifiers
        {{ normalize_category('platform') }} as platform,
        {{ normalize_id('open_id') }} as open_id,
        {{ normalize_phone('phone') }} as phone,

        -- interaction attributes
        {{ normalize_category('interaction_type') }} as interaction_type,

        -- timestamps
        cast(occurred_at as {{ dbt.type_timestamp() }}) as occurred_at,

        -- lineage
        _source_file,
        _source_row,
        _loaded_at

    from source

),

deduplicated as (

    {{ deduplicate_deliveries('renamed', ['interaction_id']) }}

),

final as (

    select
        interaction_id,
        campaign_id,
        platform,
        open_id,
        phone,
        interaction_type,
        occurred_at,
        _source_file,
        _source_row,
        _loaded_at

    from deduplicated

)

select * from final
