with

source as (

    select * from {{ source('raw', 'service_tickets') }}

),

renamed as (

    select
        -- ids
        {{ normalize_id('ticket_id') }} as ticket_id,

        -- contact identifiers
        {{ normalize_email('email') }} as email,
        {{ normalize_phone('phone') }} as phone,

        -- ticket attributes
        {{ normalize_category('contact_channel') }} as contact_channel,
        {{ normalize_category('topic') }} as topic,
        {{ normalize_category('resolution') }} as resolution,
        cast(csat as {{ dbt.type_int() }}) as csat_score,
        cast(nps as {{ dbt.type_int() }}) as nps_score,

        -- timestamps
        cast(opened_at as {{ dbt.type_timestamp() }}) as opened_at,
        cast(closed_at as {{ dbt.type_timestamp() }}) as closed_at,

        -- lineage
        _source_file,
        _source_row,
        _loaded_at

    from source

),

deduplicated as (

    {{ deduplicate_deliveries('renamed', ['ticket_id']) }}

),

final as (

    select
        ticket_id,
        email,
        phone,
        contact_channel,
        topic,
        resolution,
        csat_score,
        nps_score,
        closed_at is not null as is_closed,
        {{ dbt.datediff('opened_at', 'closed_at', 'minute') }} as minutes_to_close,
        opened_at,
        closed_at,
        _source_file,
        _source_row,
        _loaded_at

    from deduplicated

)

select * from final
