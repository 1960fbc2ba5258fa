{#-
    Restricted (contains personal identifiers): the address an audience export uses for
    each customer and channel: e-mail, phone (SMS), app device id (push), platform open
    id (social). One row per customer and channel that has one.

    Only values that identity resolution gave to this customer alone are used
    (customer_identities leaves out shared and junk values): a household mailbox is
    never an export address, because an unsubscribe from it could belong to someone
    else. The loyalty profile's own e-mail / phone comes first (it is the address the
    consent was given for), then the most recently seen value of the type.
-#}
with

customer_identities as (

    select * from {{ ref('customer_identities') }}

),

profiles as (

    select * from {{ ref('int_customer_profiles_selected') }}

),

members as (

    select * from {{ ref('stg_crm_profiles__members') }}

),

channel_types as (

    select 'email' as channel, 'email' as identifier_type
    union all
    select 'sms', 'phone'
    union all
    select 'push', 'device_id'
    union all
    select 'social', 'open_id'

),

profile_addresses as (

    select
        profiles.customer_id,
        'email' as identifier_type,
        members.email as identifier_value
    from profiles
    inner join members
        on profiles.member_id = members.member_id
    where members.email is not null

    union all

    select
        profiles.customer_id,
        'phone',
        members.phone
    from profiles
    inner join members
        on profiles.member_id = members.member_id
    where members.phone is not null

),

candidates as (

    select
        customer_identities.customer_id,
        channel_types.channel,
        customer_identities.identifier_type,
        customer_identities.identifier_value,
        customer_identities.last_seen_at,
        profile_addresses.customer_id is not null as is_profile_address
    from customer_identities
    inner join channel_types
        on customer_identities.identifier_type = channel_types.identifier_type
    left join profile_addresses
        on customer_identities.customer_id = profile_addresses.customer_id
        and customer_identities.identifier_type = profile_addresses.identifier_type
        and customer_identities.identifier_value = profile_addresses.identifier_value

),

ranked as (

    select
        *,
        row_number() over (
            partition by customer_id, channel
            order by
                case when is_profile_address then 0 else 1 end,
                last_seen_at desc,
                identifier_value
        ) as address_rank
    from candidates

),

final as (

    select
        {{ dbt.concat(['customer_id', "':'", 'channel']) }} as customer_channel_id,
        customer_id,
        channel,
        identifier_type as address_type,
        identifier_value as address,
        case when is_profile_address then 'loyalty_profile' else 'latest_seen' end as address_source,
        last_seen_at as address_last_seen_at

    from ranked
    where address_rank = 1

)

select * from final
