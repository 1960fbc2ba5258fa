{#-
    One row per campaign and resolved customer it targeted (contacted or held out as
    control), with the response window the campaign is measured over.

    - A campaign touch belongs to the customer of its record in int_records_resolved
      (the campaign tool's e-mail / phone / device / member / account of the recipient);
      touches whose identifiers resolve to nobody are left out: their orders cannot be
      seen, so counting them would read as non-conversion.
    - The unit is the (campaign, customer) pair, not the touch: when identity
      resolution puts two touches of one campaign on one customer, counting both would
      count that customer's orders twice. The pair is `treated` when any of its touches
      was contacted (is_control = false) and is timed at its earliest touch of that arm.
    - Response window: (touched_at, touched_at + window], window = var
      campaign_response_window_days when set, else the campaign's own duration
      (started_at to ended_at: a person-level campaign runs exactly as long as the
      window it is judged on), else var campaign_default_response_window_days.
-#}
{%- set window_days = var('campaign_response_window_days', none) -%}

with

touches as (

    select * from {{ ref('stg_campaign_touches__touches') }}

),

campaigns as (

    select * from {{ ref('stg_campaigns__campaigns') }}

),

records_resolved as (

    select * from {{ ref('int_records_resolved') }}
    where source_model = 'stg_campaign_touches__touches'

),

touches_resolved as (

    select
        touches.campaign_id,
        records_resolved.customer_id,
        touches.channel,
        touches.is_control,
        touches.touched_at
    from touches
    inner join records_resolved
        on touches.touch_id = records_resolved.record_id

),

contacts as (

    select
        campaign_id,
        customer_id,
        -- a customer with a contacted touch was reached, whatever other touches say
        min(case when not is_control then channel end) as treated_channel,
        min(channel) as any_channel,
        {{ dbt.bool_or('not is_control') }} as is_treated,
        min(case when not is_control then touched_at end) as treated_at,
        min(touched_at) as first_touched_at,
        count(*) as touch_count
    from touches_resolved
    group by campaign_id, customer_id

),

windows as (

    select
        campaign_id,
        cast(
            {% if window_days is not none -%}
            {{ window_days | int }}
            {%- else -%}
            coalesce(duration_days, {{ var('campaign_default_response_window_days', 14) | int }})
            {%- endif %}
            as {{ dbt.type_int() }}
        ) as response_window_days
    from campaigns

),

final as (

    select
        contacts.campaign_id,
        contacts.customer_id,
        coalesce(contacts.treated_channel, contacts.any_channel) as channel,
        not contacts.is_treated as is_control,
        coalesce(contacts.treated_at, contacts.first_touched_at) as touched_at,
        windows.response_window_days,
        {{ dbt.dateadd(
            'day', 'windows.response_window_days', 'coalesce(contacts.treated_at, contacts.first_touched_at)'
        ) }} as response_window_ends_at,
        contacts.touch_count

    from contacts
    inner join windows
        on contacts.campaign_id = windows.campaign_id

)

select * from final
