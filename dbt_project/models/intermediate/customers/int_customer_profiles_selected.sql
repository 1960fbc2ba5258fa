{#-
    CRM survivorship: one loyalty profile per customer.

    A customer may own several loyalty memberships (a second card, a re-registration).
    Record-level rule: the SURVIVING profile is the one updated most recently
    (stg_crm_profiles__members already holds each member's latest version); ties go to
    the member with the most profile versions, then the lowest member_id, so reruns
    pick the same profile. Every attribute (demographics, preferences, consent) comes
    from that one profile, so the values are mutually consistent (a consent flag always
    travels with its own timestamp). Only the membership history is taken across all
    profiles: the earliest signup and the number of profiles.
-#}
with

members as (

    select * from {{ ref('stg_crm_profiles__members') }}

),

records_resolved as (

    select * from {{ ref('int_records_resolved') }}
    where source_model = 'stg_crm_profiles__members'

),

customer_members as (

    select
        records_resolved.customer_id,
        members.*
    from members
    inner join records_resolved
        on members.member_id = records_resolved.record_id

),

ranked as (

    select
        customer_members.*,
        row_number() over (
            partition by customer_id
            order by updated_at desc, profile_version_count desc, member_id
        ) as survivor_rank,
        count(*) over (partition by customer_id) as member_profile_count,
        min(signed_up_at) over (partition by customer_id) as first_signed_up_at
    from customer_members

),

final as (

    select
        customer_id,
        member_id,
        member_profile_count,
        birth_date,
        gender,
        city,
        region,
        postcode,
        income_band,
        interests,
        preferred_channel,
        acquisition_channel,
        coalesce(has_email_consent, false) as has_email_consent,
        email_consent_at,
        coalesce(has_sms_consent, false) as has_sms_consent,
        sms_consent_at,
        coalesce(has_push_consent, false) as has_push_consent,
        push_consent_at,
        first_signed_up_at,
        signed_up_at,
        updated_at

    from ranked
    where survivor_rank = 1

)

select * from final
