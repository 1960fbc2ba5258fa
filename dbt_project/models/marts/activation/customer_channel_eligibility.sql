{#-
    May this customer be contacted on this channel today, and if not, why not? One row per
    customer and marketing channel (email, sms, push, social), without any address.

    The rules, checked in this order (the first that applies is the exclusion_reason):

    1. suppressed: an entry of the suppression list (stg_suppressions__entries, channel
       or `all`) names the customer id or any identifier of the customer;
    2. unsubscribed: an unsubscribe (social: an unfollow) of the channel at or after the
       consent, or with no consent time to compare with. dim_customers' consent already
       folds this in; it is checked again here on its own, so that an export never
       depends on a single rule in one model;
    3. no_consent: e-mail / SMS / push need the loyalty profile's consent for the channel
       (dim_customers.has_<channel>_consent); social needs the customer to follow the
       brand (a follow with no later unfollow): following is how people opt in there;
    4. no_address: no address of the channel belongs to this customer alone
       (customer_channel_addresses).

    Erasure is not a rule here: an erased person's rows are deleted before staging, so
    they are in no model; the audiences asset also checks every export row against the
    erasure tombstones, in case marts are older than the erasure.
-#}
{%- set channels = ['email', 'sms', 'push', 'social'] -%}

with

customers as (

    select * from {{ ref('dim_customers') }}

),

addresses as (

    select * from {{ ref('customer_channel_addresses') }}

),

customer_identities as (

    select * from {{ ref('customer_identities') }}

),

suppressions as (

    select * from {{ ref('stg_suppressions__entries') }}
    where is_valid

),

engagement_events as (

    select * from {{ ref('int_engagement_events_unioned') }}
    where channel = 'social'
        and event_type in ('follow', 'unfollow')
        and customer_id is not null

),

channels as (

    {% for channel in channels %}
    select '{{ channel }}' as channel
    {% if not loop.last %}union all{% endif %}
    {% endfor %}

),

social_follows as (

    select
        customer_id,
        max(case when event_type = 'follow' then occurred_at end) as followed_at,
        max(case when event_type = 'unfollow' then occurred_at end) as unfollowed_at
    from engagement_events
    group by customer_id

),

suppression_matches as (

    -- by customer id
    select
        customers.customer_id,
        suppressions.channel,
        suppressions.reason,
        suppressions.suppressed_at
    from customers
    inner join suppressions
        on suppressions.identifier_type = 'customer_id'
        and suppressions.identifier_value = customers.customer_id

    union all

    -- by any identifier the customer owns
    select
        customer_identities.customer_id,
        suppressions.channel,
        suppressions.reason,
        suppressions.suppressed_at
    from customer_identities
    inner join suppressions
        on customer_identities.identifier_type = suppressions.identifier_type
        and customer_identities.identifier_value = suppressions.identifier_value

),

customer_channels as (

    select
        customers.customer_id,
        channels.channel,
        case channels.channel
            when 'email' then customers.has_email_consent
            when 'sms' then customers.has_sms_consent
            when 'push' then customers.has_push_consent
            when 'social' then social_follows.followed_at is not null
                and (social_follows.unfollowed_at is null or social_follows.unfollowed_at < social_follows.followed_at)
        end as has_consent,
        case channels.channel
            when 'email' then customers.email_consent_at
            when 'sms' then customers.sms_consent_at
            when 'push' then customers.push_consent_at
            when 'social' then social_follows.followed_at
        end as consented_at,
        case channels.channel
            when 'email' then customers.email_unsubscribed_at
            when 'sms' then customers.sms_unsubscribed_at
            when 'push' then customers.push_unsubscribed_at
            when 'social' then social_follows.unfollowed_at
        end as unsubscribed_at
    from customers
    cross join channels
    left join social_follows
        on customers.customer_id = social_follows.customer_id

),

suppressed as (

    select
        customer_channels.customer_id,
        customer_channels.channel,
        min(suppression_matches.reason) as suppression_reason,
        min(suppression_matches.suppressed_at) as suppressed_at
    from customer_channels
    inner join suppression_matches
        on customer_channels.customer_id = suppression_matches.customer_id
        and suppression_matches.channel in (customer_channels.channel, 'all')
    group by customer_channels.customer_id, customer_channels.channel

),

flagged as (

    select
        customer_channels.customer_id,
        customer_channels.channel,
        coalesce(customer_channels.has_consent, false) as has_consent,
        customer_channels.consented_at,
        customer_channels.unsubscribed_at,
        customer_channels.unsubscribed_at is not null
            and (
                customer_channels.consented_at is null
                or customer_channels.unsubscribed_at >= customer_channels.consented_at
            ) as is_unsubscribed,
        suppressed.customer_id is not null as is_suppressed,
        suppressed.suppression_reason,
        suppressed.suppressed_at,
        addresses.customer_id is not null as has_address
    from customer_channels
    left join suppressed
        on customer_channels.customer_id = suppressed.customer_id
        and customer_channels.channel = suppressed.channel
    left join addresses
        on customer_channels.customer_id = addresses.customer_id
        and customer_channels.channel = addresses.channel

),

final as (

    select
        {{ dbt.concat(['customer_id', "':'", 'channel']) }} as customer_channel_id,
        customer_id,
        channel,
        has_consent,
        is_unsubscribed,
        is_suppressed,
        has_address,
        case
            when is_suppressed then 'suppressed'
            when is_unsubscribed then 'unsubscribed'
            when not has_consent then 'no_consent'
            when not has_address then 'no_address'
        end as exclusion_reason,
        not is_suppressed and not is_unsubscribed and has_consent and has_address as is_contactable,
        suppression_reason,
        cast(consented_at as {{ dbt.type_timestamp() }}) as consented_at,
        cast(unsubscribed_at as {{ dbt.type_timestamp() }}) as unsubscribed_at,
        cast(suppressed_at as {{ dbt.type_timestamp() }}) as suppressed_at

    from flagged

)

select * from final
