{#-
    The cutoff dates of the point-in-time feature snapshots, in one place so that every
    snapshot model (customer_feature_snapshots, customer_category_mix) uses the same ones:

    - `score`: the as-of date (var `as_of_date`, default the last order date);
    - `test`:  as-of - var `churn_horizon_days` (its label window ends on the as-of date);
    - `train`: as-of - k x `churn_horizon_days` for k = 2 .. 1 + var `churn_train_cutoffs`.
-#}
{%- set horizon = var('churn_horizon_days', 90) | int -%}
{%- set train_cutoffs = var('churn_train_cutoffs', 3) | int -%}

with

orders as (

    select * from {{ ref('fct_orders') }}
    where customer_id is not null

),

as_of as (

    select {{ rfm_as_of_date('orders') }} as as_of_date

),

cutoffs as (

    select
        'score' as snapshot_role,
        as_of_date as cutoff_date
    from as_of

    union all

    select
        'test' as snapshot_role,
        cast({{ dbt.dateadd('day', -horizon, 'as_of_date') }} as date) as cutoff_date
    from as_of
    {%- for i in range(train_cutoffs) %}

    union all

    select
        'train' as snapshot_role,
        cast({{ dbt.dateadd('day', -(2 + i) * horizon, 'as_of_date') }} as date) as cutoff_date
    from as_of
    {%- endfor %}

),

final as (

    select
        snapshot_role,
        cast(cutoff_date as date) as cutoff_date,
        cast({{ horizon }} as {{ dbt.type_int() }}) as horizon_days
    from cutoffs

)

select * from final
