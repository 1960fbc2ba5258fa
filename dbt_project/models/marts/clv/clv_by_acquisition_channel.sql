{#-
    Historical and predicted customer value per acquisition channel: what a customer
    acquired through each channel has been worth (revenue per year × lifespan − acquisition
    cost) and is expected to be worth over the next 12 months (BG/NBD + Gamma-Gamma).
-#}

with

historical as (

    select * from {{ ref('customer_historical_clv') }}

),

predicted as (

    select * from {{ source('c360_models', 'customer_clv') }}

),

final as (

    select
        historical.acquisition_channel,
        count(*) as customers,
        cast(sum(historical.total_revenue) as {{ type_double() }}) as total_revenue,
        cast(avg(historical.revenue_per_year) as {{ type_double() }}) as average_revenue_per_year,
        cast(max(historical.average_lifespan_years) as {{ type_double() }}) as average_lifespan_years,
        cast(max(historical.acquisition_cost) as {{ type_double() }}) as acquisition_cost_per_customer,
        cast(max(historical.acquisition_cost) * count(*) as {{ type_double() }}) as acquisition_cost,
        cast(
            avg(historical.revenue_per_year) * max(historical.average_lifespan_years)
            - max(historical.acquisition_cost)
            as {{ type_double() }}
        ) as historical_clv,
        cast(avg(predicted.p_alive) as {{ type_double() }}) as average_p_alive,
        cast(avg(predicted.clv_12m) as {{ type_double() }}) as average_predicted_clv_12m
    from historical
    left join predicted on historical.customer_id = predicted.customer_id
    group by 1

)

select * from final
