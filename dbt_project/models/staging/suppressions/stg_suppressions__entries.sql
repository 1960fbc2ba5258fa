{#-
    The suppression list with identifiers normalised exactly like the identity sources
    (macros/normalize_identifiers.sql), so an entry matches the values in
    customer_identities. Restricted: identifier_value is personal data.

    An entry whose value does not normalise (an invalid e-mail, a foreign phone) or whose
    type or channel is unknown is kept with is_valid = false: it suppresses nobody, and
    the audiences asset reports it rather than silently dropping it.

    raw.suppressions is a control source: its table exists once the ingestion asset
    raw/suppressions has run. A dbt-only build before that (tests that load the channel
    sources only) gets an empty list instead of an error.
-#}
{%- set raw_suppressions = source('raw', 'suppressions') -%}
{%- set has_raw = execute and adapter.get_relation(
    database=raw_suppressions.database, schema=raw_suppressions.schema, identifier=raw_suppressions.identifier
) is not none -%}
-- depends_on: {{ source('raw', 'suppressions') }}

with

{% if has_raw %}
source as (

    select * from {{ raw_suppressions }}

),
{% else %}
source as (

    select
        cast(null as {{ dbt.type_string() }}) as suppression_id,
        cast(null as {{ dbt.type_timestamp() }}) as suppressed_at,
        cast(null as {{ dbt.type_string() }}) as channel,
        cast(null as {{ dbt.type_string() }}) as identifier_type,
        cast(null as {{ dbt.type_string() }}) as identifier_value,
        cast(null as {{ dbt.type_string() }}) as reason,
        cast(null as {{ dbt.type_string() }}) as _source_file,
        cast(null as {{ dbt.type_bigint() }}) as _source_row,
        cast(null as {{ dbt.type_timestamp() }}) as _loaded_at
    where 1 = 0

),
{% endif %}

renamed as (

    select
        {{ normalize_id('suppression_id') }} as suppression_id,
        {{ normalize_category('channel') }} as channel,
        {{ normalize_category('identifier_type') }} as identifier_type,
        identifier_value as raw_identifier_value,
        {{ normalize_category('reason') }} as reason,
        cast(suppressed_at as {{ dbt.type_timestamp() }}) as suppressed_at,
        _source_file,
        _source_row,
        _loaded_at

    from source

),

normalised as (

    select
        *,
        case
            when identifier_type = 'email' then {{ normalize_email('raw_identifier_value') }}
            when identifier_type = 'phone' then {{ normalize_phone('raw_identifier_value') }}
            -- open ids are platform-qualified like in customer_identities: lower(platform):open id
            when identifier_type = 'open_id' and raw_identifier_value like '%:%'
                then {{ dbt.concat([
                    "lower(trim(" ~ dbt.split_part('raw_identifier_value', "':'", 1) ~ "))",
                    "':'",
                    "trim(substring(raw_identifier_value, position(':' in raw_identifier_value) + 1))",
                ]) }}
            when identifier_type in (
                'device_id', 'account_id', 'member_id', 'loyalty_card_number', 'customer_id'
            ) then {{ normalize_id('raw_identifier_value') }}
        end as identifier_value
    from renamed

),

deduplicated as (

    {{ deduplicate_deliveries('normalised', ['suppression_id']) }}

),

final as (

    select
        suppression_id,
        channel,
        identifier_type,
        identifier_value,
        reason,
        identifier_value is not null
            and channel in ('email', 'sms', 'push', 'social', 'all') as is_valid,
        suppressed_at,
        _source_file,
        _source_row,
        _loaded_at

    from deduplicated

)

select * from final
