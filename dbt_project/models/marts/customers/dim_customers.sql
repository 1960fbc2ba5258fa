{#-
    The single customer view: one row per resolved customer, without any raw identifier
    (no e-mail, phone, name, device id, postcode or birth date). Birth date is reduced
    to an age band and a generation; consent is the CRM consent revoked by any later
    unsubscribe event of the same channel.
-#}
with

records_resolved as (

    select * from {{ ref('int_records_resolved') }}

),

profiles as (

    select * from {{ ref('int_customer_profiles_selected') }}

),

customer_orders as (

    select * from {{ ref('int_customer_orders_aggregated') }}

),

customer_engagement as (

    select * from {{ ref('int_customer_engagement_aggregated') }}

),

customer_service as (

    select * from {{ ref('int_customer_service_aggregated') }}

),

customer_touchpoints as (

    select * from {{ ref('int_customer_touchpoints_aggregated') }}

),

orders as (

    select * from {{ ref('int_orders_unioned') }}

),

customer_identities as (

    select * from {{ ref('customer_identities') }}

),

as_of as (

    select {{ rfm_as_of_date('orders') }} as as_of_date

),

customers as (

    select distinct customer_id
    from records_resolved
    where customer_id is not null

),

-- A customer is identified when one of its identifiers names a person (var
-- identity_personal_identifier_types); cookie- or device-only customers are anonymous
-- visitors, kept (their sessions are real traffic) but told apart, as CDPs do.
identified_customers as (

    select distinct customer_id
    from customer_identities
    where identifier_type in (
        {%- for identifier_type in var('identity_personal_identifier_types') %}
        '{{ identifier_type }}'{{ ',' if not loop.last }}
        {%- endfor %}
    )

),

demographics as (

    select
        profiles.customer_id,
        cast(floor(
            {{ dbt.datediff('profiles.birth_date', 'as_of.as_of_date', 'day') }} / 365.25
        ) as {{ dbt.type_int() }}) as age_years,
        extract(year from profiles.birth_date) as birth_year
    from profiles
    cross join as_of
    where profiles.birth_date is not null

),

consent as (

    -- a CRM consent holds unless an unsubscribe of the same channel came after it
    -- (or the consent has no timestamp to compare with)
    select
        profiles.customer_id,
        profiles.has_email_consent
            and (
                customer_engagement.email_unsubscribed_at is null
                or (
                    profiles.email_consent_at is not null
                    and customer_engagement.email_unsubscribed_at < profiles.email_consent_at
                )
            ) as has_email_consent,
        profiles.has_sms_consent
            and (
                customer_engagement.sms_unsubscribed_at is null
                or (
                    profiles.sms_consent_at is not null
                    and customer_engagement.sms_unsubscribed_at < profiles.sms_consent_at
                )
            ) as has_sms_consent,
        profiles.has_push_consent
            and (
                customer_engagement.push_unsubscribed_at is null
                or (
                    profiles.push_consent_at is not null
                    and customer_engagement.push_unsubscribed_at < profiles.push_consent_at
                )
            ) as has_push_consent
    from profiles
    left join customer_engagement
        on profiles.customer_id = customer_engagement.customer_id

),

final as (

    select
        customers.customer_id,
        as_of.as_of_date,
        identified_customers.customer_id is not null as is_identified,

        -- loyalty membership
        profiles.customer_id is not null as is_member,
        cast(
            coalesce(profiles.member_profile_count, 0) as {{ dbt.type_bigint() }}
        ) as member_profile_count,
        profiles.first_signed_up_at as signed_up_at,
        profiles.acquisition_channel,

        -- demographics
        case
            when demographics.age_years is null then null
            when demographics.age_years < 18 then 'under 18'
            when demographics.age_years < 25 then '18-24'
            when demographics.age_years < 35 then '25-34'
            when demographics.age_years < 45 then '35-44'
            when demographics.age_years < 55 then '45-54'
            when demographics.age_years < 65 then '55-64'
            else '65+'
        end as age_band,
        case
            when demographics.birth_year is null then null
            when demographics.birth_year >= 2013 then 'Gen Alpha'
            when demographics.birth_year >= 1997 then 'Gen Z'
            when demographics.birth_year >= 1981 then 'Millennials'
            when demographics.birth_year >= 1965 then 'Gen X'
            when demographics.birth_year >= 1946 then 'Baby Boomers'
            else 'Silent Generation'
        end as generation,
        profiles.gender,
        profiles.income_band,

        -- geography and preferences
        profiles.city,
        profiles.region,
        profiles.interests,
        profiles.preferred_channel as preferred_contact_channel,

        -- consent
        coalesce(consent.has_email_consent, false) as has_email_consent,
        profiles.email_consent_at,
        customer_engagement.email_unsubscribed_at,
        coalesce(consent.has_sms_consent, false) as has_sms_consent,
        profiles.sms_consent_at,
        customer_engagement.sms_unsubscribed_at,
        coalesce(consent.has_push_consent, false) as has_push_consent,
        profiles.push_consent_at,
        customer_engagement.push_unsubscribed_at,

        -- presence
        customer_touchpoints.first_seen_at,
        customer_touchpoints.last_seen_at,
        customer_touchpoints.channels_used,
        cast(
            coalesce(customer_touchpoints.channel_count, 0) as {{ dbt.type_bigint() }}
        ) as channel_count,

        -- orders
        coalesce(customer_orders.order_count, 0) > 0 as is_buyer,
        cast(coalesce(customer_orders.order_count, 0) as {{ dbt.type_bigint() }}) as order_count,
        cast(
            coalesce(customer_orders.returned_order_count, 0) as {{ dbt.type_bigint() }}
        ) as returned_order_count,
        cast(
            coalesce(customer_orders.cancelled_order_count, 0) as {{ dbt.type_bigint() }}
        ) as cancelled_order_count,
        cast(coalesce(customer_orders.item_count, 0) as {{ dbt.type_bigint() }}) as item_count,
        coalesce(customer_orders.total_revenue, 0) as total_revenue,
        coalesce(customer_orders.total_margin, 0) as total_margin,
        customer_orders.average_order_value,
        customer_orders.coupon_usage_rate,
        customer_orders.online_order_share,
        customer_orders.store_order_share,
        customer_orders.preferred_shopping_channel,
        customer_orders.first_order_at,
        customer_orders.last_order_at,

        -- engagement
        cast(
            coalesce(customer_engagement.email_delivered_count, 0) as {{ dbt.type_bigint() }}
        ) as email_delivered_count,
        customer_engagement.email_open_rate,
        customer_engagement.email_click_rate,
        cast(
            coalesce(customer_engagement.web_sessions_last_30_days, 0) as {{ dbt.type_bigint() }}
        ) as web_sessions_last_30_days,
        cast(
            coalesce(customer_engagement.web_sessions_last_90_days, 0) as {{ dbt.type_bigint() }}
        ) as web_sessions_last_90_days,
        cast(
            coalesce(customer_engagement.app_sessions_last_30_days, 0) as {{ dbt.type_bigint() }}
        ) as app_sessions_last_30_days,
        cast(
            coalesce(customer_engagement.app_sessions_last_90_days, 0) as {{ dbt.type_bigint() }}
        ) as app_sessions_last_90_days,
        cast(
            coalesce(customer_engagement.cart_session_count, 0) as {{ dbt.type_bigint() }}
        ) as cart_session_count,
        customer_engagement.cart_abandonment_rate,

        -- service
        cast(coalesce(customer_service.ticket_count, 0) as {{ dbt.type_bigint() }}) as ticket_count,
        customer_service.mean_csat_score,
        customer_service.latest_nps_score

    from customers
    cross join as_of
    left join identified_customers
        on customers.customer_id = identified_customers.customer_id
    left join profiles
        on customers.customer_id = profiles.customer_id
    left join demographics
        on customers.customer_id = demographics.customer_id
    left join consent
        on customers.customer_id = consent.customer_id
    left join customer_orders
        on customers.customer_id = customer_orders.customer_id
    left join customer_engagement
        on customers.customer_id = customer_engagement.customer_id
    left join customer_service
        on customers.customer_id = customer_service.customer_id
    left join customer_touchpoints
        on customers.customer_id = customer_touchpoints.customer_id

)

select * from final
