{#-
    One row per customer who bought: the (frequency, recency, T, monetary value) summary
    the buy-'til-you-die models are fitted on, as of the as-of date and, for the hold-out
    evaluation, as of a calibration end `clv_holdout_days` earlier.

    Conventions of the BTYD literature (Fader, Hardie & Lee 2005): purchases on the same
    day count once; frequency = repeat purchase days; recency and T in weeks from the first
    purchase day; monetary value = mean revenue of the repeat purchase days.
-#}

with

orders as (

    select * from {{ ref('fct_orders') }}

),

as_of as (

    select
        {{ rfm_as_of_date('orders') }} as as_of_date

),

bounds as (

    select
        as_of_date,
        {{ dbt.dateadd('day', -1 * var('clv_holdout_days'), 'as_of_date') }} as calibration_end_date
    from as_of

),

purchase_days as (

    select
        orders.customer_id,
        orders.ordered_on as purchased_on,
        sum(orders.revenue_amount) as day_revenue
    from orders
    cross join bounds
    where orders.is_completed
        and orders.customer_id is not null
        and orders.ordered_on <= bounds.as_of_date
    group by 1, 2

),

numbered as (

    select
        purchase_days.*,
        bounds.as_of_date,
        bounds.calibration_end_date,
        min(purchased_on) over (partition by customer_id) as first_purchased_on,
        row_number() over (partition by customer_id order by purchased_on) as purchase_number
    from purchase_days
    cross join bounds

),

summarised as (

    select
        customer_id,
        min(as_of_date) as as_of_date,
        min(calibration_end_date) as calibration_end_date,
        min(first_purchased_on) as first_purchased_on,
        max(purchased_on) as last_purchased_on,
        count(*) - 1 as frequency,
        sum(case when purchase_number > 1 then day_revenue end) as repeat_revenue,
        max(case when purchased_on <= calibration_end_date then purchased_on end) as last_calibration_purchased_on,
        sum(case when purchased_on <= calibration_end_date then 1 else 0 end) - 1 as frequency_calibration,
        sum(
            case when purchased_on <= calibration_end_date and purchase_number > 1 then day_revenue end
        ) as repeat_revenue_calibration,
        sum(case when purchased_on > calibration_end_date then 1 else 0 end) as frequency_holdout,
        sum(case when purchased_on > calibration_end_date then day_revenue else 0 end) as revenue_holdout,
        sum(day_revenue) as total_revenue
    from numbered
    group by 1

),

final as (

    select
        customer_id,
        as_of_date,
        calibration_end_date,
        first_purchased_on,
        last_purchased_on,
        frequency,
        {{ dbt.datediff('first_purchased_on', 'last_purchased_on', 'day') }} / 7.0 as recency_weeks,
        {{ dbt.datediff('first_purchased_on', 'as_of_date', 'day') }} / 7.0 as t_weeks,
        case when frequency > 0 then repeat_revenue / frequency else 0 end as monetary_value,
        total_revenue,
        first_purchased_on <= calibration_end_date as is_in_calibration,
        case when first_purchased_on <= calibration_end_date then frequency_calibration end
            as frequency_calibration,
        case
            when first_purchased_on <= calibration_end_date
                then {{ dbt.datediff('first_purchased_on', 'last_calibration_purchased_on', 'day') }} / 7.0
        end as recency_calibration_weeks,
        case
            when first_purchased_on <= calibration_end_date
                then {{ dbt.datediff('first_purchased_on', 'calibration_end_date', 'day') }} / 7.0
        end as t_calibration_weeks,
        case
            when first_purchased_on <= calibration_end_date and frequency_calibration > 0
                then repeat_revenue_calibration / frequency_calibration
            when first_purchased_on <= calibration_end_date then 0
        end as monetary_value_calibration,
        case when first_purchased_on <= calibration_end_date then frequency_holdout end as frequency_holdout,
        case when first_purchased_on <= calibration_end_date then revenue_holdout end as revenue_holdout
    from summarised

)

select * from final
