{#-
    Lifecycle stage of every customer known by the as-of date: the latest snapshot of
    lifecycle_history, with at-risk decided by the BG/NBD probability alive when the
    Python-written marts.customer_clv exists (source c360_models.customer_clv):

    - CLV present: a buying customer in the rule stages active / loyal / at_risk is
      `at_risk` when p_alive < var `lifecycle_p_alive_threshold`, otherwise `loyal` when
      they have the loyal profile, else `active` (the model knows their own rhythm better
      than a gap multiple does). new / reactivated / lapsed / churned / prospect are
      never overridden.
    - CLV absent (e.g. a plain `dbt build` before any Python asset ran): the rule stage
      (recency beyond lifecycle_at_risk_gap_multiple x their usual gap).

    at_risk_basis says which rule decided. The dependency on the source is declared below
    so that Dagster orders customer_clv first when both are materialised.
-#}
{%- set p_alive_threshold = var('lifecycle_p_alive_threshold', 0.5) | float -%}
{%- set clv_source = source('c360_models', 'customer_clv') -%}
{%- set has_clv = execute and adapter.get_relation(
    database=clv_source.database, schema=clv_source.schema, identifier=clv_source.identifier
) is not none -%}
-- depends_on: {{ source('c360_models', 'customer_clv') }}

with

history as (

    select * from {{ ref('lifecycle_history') }}

),

{% if has_clv %}
clv as (

    select
        customer_id,
        cast(p_alive as {{ type_double() }}) as p_alive
    from {{ clv_source }}

),
{% else %}
clv as (

    -- marts.customer_clv has not been written yet: no probability alive
    select
        cast(null as {{ dbt.type_string() }}) as customer_id,
        cast(null as {{ type_double() }}) as p_alive
    where 1 = 0

),
{% endif %}

snapshot_dates as (

    select
        snapshot_date,
        row_number() over (order by snapshot_date desc) as recency_rank
    from (select distinct snapshot_date from history) as dates

),

latest as (

    select history.*
    from history
    inner join snapshot_dates
        on history.snapshot_date = snapshot_dates.snapshot_date
    where snapshot_dates.recency_rank = 1

),

previous as (

    select
        history.customer_id,
        history.lifecycle_stage
    from history
    inner join snapshot_dates
        on history.snapshot_date = snapshot_dates.snapshot_date
    where snapshot_dates.recency_rank = 2

),

staged as (

    select
        latest.*,
        clv.p_alive,
        case
            when clv.p_alive is not null
                and latest.lifecycle_stage in ('active', 'loyal', 'at_risk')
                then case
                    when clv.p_alive < {{ p_alive_threshold }} then 'at_risk'
                    when latest.has_loyal_profile then 'loyal'
                    else 'active'
                end
            else latest.lifecycle_stage
        end as final_stage,
        case
            when clv.p_alive is not null
                and latest.lifecycle_stage in ('active', 'loyal', 'at_risk')
                then 'p_alive'
            when latest.lifecycle_stage = 'at_risk' and latest.order_count = 1 then 'single_order_age'
            when latest.lifecycle_stage = 'at_risk' then 'inter_purchase_time'
        end as at_risk_basis
    from latest
    left join clv
        on latest.customer_id = clv.customer_id

),

final as (

    select
        staged.customer_id,
        staged.snapshot_date as as_of_date,
        staged.final_stage as lifecycle_stage,
        case
            when staged.final_stage = 'prospect' then staged.lifecycle_sub_stage
            else staged.final_stage
        end as lifecycle_sub_stage,
        staged.lifecycle_stage as rule_stage,
        previous.lifecycle_stage as previous_stage,
        staged.final_stage in ('new', 'active', 'loyal', 'reactivated', 'at_risk') as is_current_customer,
        staged.retention_type,
        case when staged.final_stage = 'at_risk' then staged.at_risk_basis end as at_risk_basis,
        staged.p_alive,
        staged.order_count,
        staged.first_order_on,
        staged.last_order_on,
        staged.recency_days,
        staged.tenure_days,
        staged.mean_interpurchase_days,
        staged.last_reactivated_on,
        staged.last_engaged_on,
        staged.is_member,
        staged.has_loyal_profile,
        staged.is_overdue

    from staged
    left join previous
        on staged.customer_id = previous.customer_id

)

select * from final
