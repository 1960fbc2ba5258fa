{#-
    The marketing touchpoints of every resolved customer, one row per touchpoint, for
    attribution and journeys. A touchpoint is one unit of contact, not one event:

    - a campaign message (e-mail, SMS, push, social post): the contacted campaign touch
      of int_campaign_contacts_resolved and the message's engagement events (sent,
      delivered, open, click) together, at the earliest of them. Counting every event
      would give an e-mail that was opened and clicked three times the credit of one
      that was not, under linear and time-decay rules;
    - an organic social interaction (follow, like, share, message; not unfollow);
    - a web or app session, at its first event. Its channel is where the visit came
      from: the campaign that brought it (paid search and display as `paid`, else the
      campaign's channel), else for web the referrer (search, social, e-mail, ...;
      none = `direct`), else `app` for an app session of its own.

    Control-group members were not contacted: their touches are not touchpoints.
    Events without a resolved customer cannot be put on anyone's path and are left out.
-#}

with

engagement as (

    select * from {{ ref('fct_engagement') }}
    where customer_id is not null

),

campaign_contacts as (

    select * from {{ ref('int_campaign_contacts_resolved') }}
    where not is_control

),

campaigns as (

    select * from {{ ref('stg_campaigns__campaigns') }}

),

engagement_channels as (

    select
        engagement.customer_id,
        engagement.engagement_id,
        engagement.occurred_at,
        case
            when engagement.channel in ('email', 'sms', 'push', 'social') then engagement.channel
            when campaigns.channel in ('paid_search', 'display') then 'paid'
            when campaigns.channel is not null then campaigns.channel
            when engagement.channel = 'web' and engagement.referrer_channel in
                ('search', 'paid', 'email', 'sms', 'push', 'social') then engagement.referrer_channel
            when engagement.channel = 'web' then 'direct'
            else engagement.channel
        end as channel,
        -- the unit an event belongs to: its session (web / app), its campaign's message
        -- (e-mail, SMS, push, campaign social posts), else the event itself
        case
            when engagement.session_id is not null
                then {{ dbt.concat(["engagement.channel", "':session:'", "engagement.session_id"]) }}
            when engagement.campaign_id is not null
                then {{ dbt.concat(["engagement.channel", "':campaign:'", "engagement.campaign_id"]) }}
            else engagement.engagement_id
        end as touchpoint_key
    from engagement
    left join campaigns
        on engagement.campaign_id = campaigns.campaign_id
    where not (engagement.channel = 'social' and engagement.event_type = 'unfollow')

),

units as (

    select
        customer_id,
        touchpoint_key,
        channel,
        occurred_at
    from engagement_channels

    union all

    select
        customer_id,
        {{ dbt.concat(["channel", "':campaign:'", "campaign_id"]) }} as touchpoint_key,
        channel,
        touched_at as occurred_at
    from campaign_contacts

),

final as (

    select
        {{ dbt.concat(["customer_id", "'|'", "touchpoint_key"]) }} as touchpoint_id,
        customer_id,
        -- a session's events share one channel; min() only makes the choice explicit
        min(channel) as channel,
        min(occurred_at) as touched_at

    from units
    group by customer_id, touchpoint_key

)

select * from final
