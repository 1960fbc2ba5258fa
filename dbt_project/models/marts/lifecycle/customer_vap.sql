{#-
    The Value / Attrition / Potential grid for every buyer (customer_rfm), with the
    recommended treatment from the seed vap_treatments.

    - value: historical net revenue (customer_rfm.monetary_total), in tertile bands.
    - attrition: churn probability from the Python-written marts.customer_churn_risk
      (its low / medium / high risk band) when that table exists; otherwise a rule band
      from the lifecycle stage (lapsed / churned = high, at_risk = medium, else low).
    - potential: predicted 12-month CLV (marts.customer_clv.clv_12m, BG/NBD +
      Gamma-Gamma) when it exists for the customer; otherwise an RFM expected value for
      the next 12 months = average order value x orders per year of tenure x R score / 5
      (a heuristic, flagged as such). Tertile bands.

    attrition_basis and potential_basis say which source each row used. The sources are
    declared below so that Dagster orders the Python assets first.
-#}
{%- set churn_source = source('c360_models', 'customer_churn_risk') -%}
{%- set clv_source = source('c360_models', 'customer_clv') -%}
{%- set has_churn = execute and adapter.get_relation(
    database=churn_source.database, schema=churn_source.schema, identifier=churn_source.identifier
) is not none -%}
{%- set has_clv = execute and adapter.get_relation(
    database=clv_source.database, schema=clv_source.schema, identifier=clv_source.identifier
) is not none -%}
-- depends_on: {{ source('c360_models', 'customer_churn_risk') }}
-- depends_on: {{ source('c360_models', 'customer_clv') }}

with

rfm as (

    select * from {{ ref('customer_rfm') }}

),

lifecycle as (

    select * from {{ ref('customer_lifecycle') }}

),

treatments as (

    select * from {{ ref('vap_treatments') }}

),

{% if has_churn %}
churn_risk as (

    select
        customer_id,
        cast(churn_probability as {{ type_double() }}) as churn_probability,
        risk_band
    from {{ churn_source }}

),
{% else %}
churn_risk as (

    -- marts.customer_churn_risk has not been written yet
    select
        cast(null as {{ dbt.type_string() }}) as customer_id,
        cast(null as {{ type_double() }}) as churn_probability,
        cast(null as {{ dbt.type_string() }}) as risk_band
    where 1 = 0

),
{% endif %}

{% if has_clv %}
clv as (

    select
        customer_id,
        cast(clv_12m as {{ type_double() }}) as clv_12m
    from {{ clv_source }}

),
{% else %}
clv as (

    -- marts.customer_clv has not been written yet
    select
        cast(null as {{ dbt.type_string() }}) as customer_id,
        cast(null as {{ type_double() }}) as clv_12m
    where 1 = 0

),
{% endif %}

measured as (

    select
        rfm.customer_id,
        rfm.as_of_date,
        cast(rfm.monetary_total as {{ type_double() }}) as historical_value,
        churn_risk.churn_probability,
        case
            when churn_risk.risk_band is not null then churn_risk.risk_band
            when lifecycle.lifecycle_stage in ('lapsed', 'churned') then 'high'
            when lifecycle.lifecycle_stage = 'at_risk' then 'medium'
            else 'low'
        end as attrition_band,
        case when churn_risk.risk_band is not null then 'churn_model' else 'lifecycle_stage' end
            as attrition_basis,
        coalesce(
            clv.clv_12m,
            cast(rfm.monetary_average as {{ type_double() }})
            * rfm.frequency
            / greatest(
                cast({{ dbt.datediff('rfm.first_order_on', 'rfm.as_of_date', 'day') }} as {{ type_double() }})
                / 365.25,
                0.25
            )
            * rfm.r_score / 5.0
        ) as potential_value,
        case when clv.clv_12m is not null then 'predicted_clv_12m' else 'rfm_expected_value_12m' end
            as potential_basis,
        lifecycle.lifecycle_stage
    from rfm
    left join churn_risk
        on rfm.customer_id = churn_risk.customer_id
    left join clv
        on rfm.customer_id = clv.customer_id
    left join lifecycle
        on rfm.customer_id = lifecycle.customer_id

),

ranked as (

    select
        measured.*,
        percent_rank() over (order by historical_value) as value_percentile,
        percent_rank() over (order by potential_value) as potential_percentile
    from measured

),

banded as (

    select
        ranked.*,
        case
            when value_percentile < 1.0 / 3 then 'low'
            when value_percentile < 2.0 / 3 then 'medium'
            else 'high'
        end as value_band,
        case
            when potential_percentile < 1.0 / 3 then 'low'
            when potential_percentile < 2.0 / 3 then 'medium'
            else 'high'
        end as potential_band
    from ranked

),

final as (

    select
        banded.customer_id,
        banded.as_of_date,
        banded.historical_value,
        banded.value_band,
        banded.churn_probability,
        banded.attrition_band,
        banded.attrition_basis,
        banded.potential_value,
        banded.potential_band,
        banded.potential_basis,
        treatments.vap_cell,
        treatments.treatment,
        treatments.rationale as treatment_rationale,
        banded.lifecycle_stage

    from banded
    left join treatments
        on banded.value_band = treatments.value_band
        and banded.attrition_band = treatments.attrition_band
        and banded.potential_band = treatments.potential_band

)

select * from final
