{#-
    One row per engagement event across the six engagement channels (email, sms, push,
    social, web, app) with the resolved customer_id and no raw identifier. A view:
    fct_engagement persists it with its contract, the per-customer aggregates read it.
-#}
{{ config(materialized='view') }}

with

email_events as (

    select * from {{ ref('stg_email_engagement__events') }}

),

sms_events as (

    select * from {{ ref('stg_sms_engagement__events') }}

),

push_events as (

    select * from {{ ref('stg_push_engagement__events') }}

),

social_interactions as (

    select * from {{ ref('stg_social_interactions__interactions') }}

),

web_events as (

    select * from {{ ref('stg_web_events__events') }}

),

app_events as (

    select * from {{ ref('stg_app_events__events') }}

),

records_resolved as (

    select * from {{ ref('int_records_resolved') }}

),

events as (

    select
        'email' as channel,
        'stg_email_engagement__events' as source_model,
        event_id as source_event_id,
        event_type,
        campaign_id,
        cast(null as {{ dbt.type_string() }}) as session_id,
        cast(null as {{ dbt.type_string() }}) as product_id,
        cast(null as {{ dbt.type_string() }}) as platform,
        cast(null as {{ dbt.type_string() }}) as referrer_channel,
        occurred_at
    from email_events

    union all

    select
        'sms' as channel,
        'stg_sms_engagement__events' as source_model,
        event_id as source_event_id,
        event_type,
        campaign_id,
        cast(null as {{ dbt.type_string() }}) as session_id,
        cast(null as {{ dbt.type_string() }}) as product_id,
        cast(null as {{ dbt.type_string() }}) as platform,
        cast(null as {{ dbt.type_string() }}) as referrer_channel,
        occurred_at
    from sms_events

    union all

    select
        'push' as channel,
        'stg_push_engagement__events' as source_model,
        event_id as source_event_id,
        event_type,
        campaign_id,
        cast(null as {{ dbt.type_string() }}) as session_id,
        cast(null as {{ dbt.type_string() }}) as product_id,
        cast(null as {{ dbt.type_string() }}) as platform,
        cast(null as {{ dbt.type_string() }}) as referrer_channel,
        occurred_at
    from push_events

    union all

    select
        'social' as channel,
        'stg_social_interactions__interactions' as source_model,
        interaction_id as source_event_id,
        interaction_type as event_type,
        campaign_id,
        cast(null as {{ dbt.type_string() }}) as session_id,
        cast(null as {{ dbt.type_string() }}) as product_id,
        platform,
        cast(null as {{ dbt.type_string() }}) as referrer_channel,
        occurred_at
    from social_interactions

    union all

    select
        'web' as channel,
        'stg_web_events__events' as source_model,
        event_id as source_event_id,
        event_type,
        campaign_id,
        session_id,
        product_id,
        cast(null as {{ dbt.type_string() }}) as platform,
        referrer_channel,
        occurred_at
    from web_events

    union all

    select
        'app' as channel,
        'stg_app_events__events' as source_model,
        event_id as source_event_id,
        event_type,
        campaign_id,
        session_id,
        product_id,
        platform,
        cast(null as {{ dbt.type_string() }}) as referrer_channel,
        occurred_at
    from app_events

),

final as (

    select
        {{ dbt.concat(['events.channel', "'-'", 'events.source_event_id']) }} as engagement_id,
        events.source_event_id,
        records_resolved.customer_id,
        events.channel,
        events.event_type,
        events.campaign_id,
        events.session_id,
        events.product_id,
        events.platform,
        events.referrer_channel,
        events.occurred_at,
        cast({{ dbt.date_trunc('day', 'events.occurred_at') }} as date) as occurred_on

    from events
    left join records_resolved
        on events.source_model = records_resolved.source_model
        and events.source_event_id = records_resolved.record_id

)

select * from final
