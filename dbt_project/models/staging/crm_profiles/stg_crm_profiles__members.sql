{#-
    One row per loyalty member: the latest profile version (by updated_at). A member is
    re-delivered whenever the profile changes; exact duplicate deliveries of the same
    version (same member_id and updated_at) are removed first, so profile_version_count
    counts distinct versions.
-#}
with

source as (

    select * from {{ source('raw', 'crm_profiles') }}

),

renamed as (

    select
        -- ids
        {{ normalize_id('member_id') }} as member_id,
        {{ normalize_id('loyalty_card_number') }} as loyalty_card_number,
        {{ normalize_id('account_id') }} as account_id,

        -- contact identifiers
        {{ normalize_email('email') }} as email,
        {{ normalize_phone('phone') }} as phone,

        -- person
        {{ normalize_id('first_name') }} as first_name,
        {{ normalize_id('last_name') }} as last_name,
        cast(birth_date as date) as birth_date,
        {{ normalize_category('gender') }} as gender,
        {{ normalize_id('city') }} as city,
        {{ normalize_id('region') }} as region,
        {{ normalize_id('postcode') }} as postcode,
        {{ normalize_category('income_band') }} as income_band,
        {{ normalize_category('interests') }} as interests,

        -- marketing preferences and consent
        {{ normalize_category('preferred_channel') }} as preferred_channel,
        {{ normalize_category('acquisition_channel') }} as acquisition_channel,
        cast(consent_email as {{ dbt.type_boolean() }}) as has_email_consent,
        cast(consent_sms as {{ dbt.type_boolean() }}) as has_sms_consent,
        cast(consent_push as {{ dbt.type_boolean() }}) as has_push_consent,

        -- timestamps
        cast(consent_email_at as {{ dbt.type_timestamp() }}) as email_consent_at,
        cast(consent_sms_at as {{ dbt.type_timestamp() }}) as sms_consent_at,
        cast(consent_push_at as {{ dbt.type_timestamp() }}) as push_consent_at,
        cast(signup_at as {{ dbt.type_timestamp() }}) as signed_up_at,
        cast(updated_at as {{ dbt.type_timestamp() }}) as updated_at,

        -- lineage
        _source_file,
        _source_row,
        _loaded_at

    from source

),

deduplicated as (

    {{ deduplicate_deliveries('renamed', ['member_id', 'updated_at']) }}

),

versioned as (

    select
        deduplicated.*,
        row_number() over (
            partition by member_id
            order by updated_at desc, _loaded_at desc, _source_file desc, _source_row desc
        ) as version_rank,
        count(*) over (partition by member_id) as profile_version_count,
        min(updated_at) over (partition by member_id) as first_updated_at
    from deduplicated

),

final as (

    select
        member_id,
        loyalty_card_number,
        account_id,
        email,
        phone,
        first_name,
        last_name,
        birth_date,
        gender,
        city,
        region,
        postcode,
        income_band,
        interests,
        preferred_channel,
        acquisition_channel,
        has_email_consent,
        has_sms_consent,
        has_push_consent,
        email_consent_at,
        sms_consent_at,
        push_consent_at,
        signed_up_at,
        first_updated_at,
        updated_at,
        profile_version_count,
        _source_file,
        _source_row,
        _loaded_at

    from versioned
    where version_rank = 1

)

select * from final
