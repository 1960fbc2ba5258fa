{#-
    Next best action for every identified customer: WHERE to reach them (the channel they
    are most likely to answer among those they may be contacted on), WHAT to do (the
    Value / Attrition / Potential treatment) and at which discount depth (the offer
    policy's margin-maximising depth).

    best_channel is the highest response propensity (marts.customer_channel_propensity,
    Python asset) among the customer's contactable channels (customer_channel_eligibility:
    consent, no unsubscribe, no suppression, an address). Ties go to the channel name, so
    reruns agree. Customers with no contactable channel keep a row with best_channel null
    and action_status `not_contactable`: a marketer sees them, an export never does.
    Prospects (no purchase) have no VAP cell, treatment or offer.
-#}
{%- set propensity_source = source('c360_activation', 'customer_channel_propensity') -%}
{%- set offer_source = source('c360_activation', 'customer_offer_policy') -%}
{%- set has_propensity = execute and adapter.get_relation(
    database=propensity_source.database, schema=propensity_source.schema, identifier=propensity_source.identifier
) is not none -%}
{%- set has_offers = execute and adapter.get_relation(
    database=offer_source.database, schema=offer_source.schema, identifier=offer_source.identifier
) is not none -%}
{%- set channels = ['email', 'sms', 'push', 'social'] -%}
-- depends_on: {{ source('c360_activation', 'customer_channel_propensity') }}
-- depends_on: {{ source('c360_activation', 'customer_offer_policy') }}

with

customers as (

    select * from {{ ref('dim_customers') }}
    where is_identified

),

{% if has_propensity %}
propensities as (

    select * from {{ propensity_source }}

),
{% else %}
propensities as (

    -- marts.customer_channel_propensity has not been written yet (a dbt-only build)
    select
        cast(null as {{ dbt.type_string() }}) as customer_id,
        cast(null as {{ dbt.type_string() }}) as channel,
        cast(null as {{ type_double() }}) as response_propensity,
        cast(null as {{ type_double() }}) as propensity_lift
    where 1 = 0

),
{% endif %}

eligibility as (

    select * from {{ ref('customer_channel_eligibility') }}

),

vap as (

    select * from {{ ref('customer_vap') }}

),

{% if has_offers %}
offers as (

    select * from {{ offer_source }}

),
{% else %}
offers as (

    -- marts.customer_offer_policy has not been written yet (a dbt-only build)
    select
        cast(null as {{ dbt.type_string() }}) as customer_id,
        cast(null as {{ type_double() }}) as recommended_discount_pct,
        cast(null as {{ type_double() }}) as discount_sensitivity
    where 1 = 0

),
{% endif %}

channel_scores as (

    select
        eligibility.customer_id,
        eligibility.channel,
        eligibility.is_contactable,
        cast(propensities.response_propensity as {{ type_double() }}) as response_propensity,
        cast(propensities.propensity_lift as {{ type_double() }}) as propensity_lift
    from eligibility
    left join propensities
        on eligibility.customer_id = propensities.customer_id
        and eligibility.channel = propensities.channel

),

ranked as (

    select
        *,
        row_number() over (
            partition by customer_id
            order by response_propensity desc, channel
        ) as contactable_rank
    from channel_scores
    where is_contactable
        and response_propensity is not null

),

best as (

    select * from ranked
    where contactable_rank = 1

),

per_customer as (

    select
        customer_id,
        cast(sum(case when is_contactable then 1 else 0 end) as {{ dbt.type_bigint() }}) as contactable_channel_count,
        {% for channel in channels %}
        max(case when channel = '{{ channel }}' then response_propensity end) as {{ channel }}_propensity,
        coalesce(max(case when channel = '{{ channel }}' and is_contactable then 1 else 0 end), 0) = 1
            as is_{{ channel }}_contactable{{ ',' if not loop.last }}
        {% endfor %}
    from channel_scores
    group by customer_id

),

final as (

    select
        customers.customer_id,
        customers.as_of_date,
        case when best.channel is null then 'not_contactable' else 'contact' end as action_status,
        best.channel as best_channel,
        best.response_propensity as best_channel_propensity,
        best.propensity_lift as best_channel_propensity_lift,
        coalesce(per_customer.contactable_channel_count, 0) as contactable_channel_count,
        {% for channel in channels %}
        per_customer.{{ channel }}_propensity,
        coalesce(per_customer.is_{{ channel }}_contactable, false) as is_{{ channel }}_contactable,
        {% endfor %}
        vap.vap_cell,
        vap.treatment,
        vap.treatment_rationale,
        cast(offers.recommended_discount_pct as {{ type_double() }}) as recommended_discount_pct,
        cast(offers.discount_sensitivity as {{ type_double() }}) as discount_sensitivity

    from customers
    left join best
        on customers.customer_id = best.customer_id
    left join per_customer
        on customers.customer_id = per_customer.customer_id
    left join vap
        on customers.customer_id = vap.customer_id
    left join offers
        on customers.customer_id = offers.customer_id

)

select * from final
