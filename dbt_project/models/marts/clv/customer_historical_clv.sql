{#-
    Historical CLV per customer, as in the classic marketing formula:
    average revenue per customer per year × average customer lifespan − acquisition cost,
    where lifespan and acquisition cost are those of the customer's acquisition channel.
-#}

with

customers as (

    select * from {{ ref('dim_customers') }}

),

campaigns as (

    select * from {{ ref('stg_campaigns__campaigns') }}

),

channel_map as (

    select * from {{ ref('clv_acquisition_channel_map') }}

),

buyers as (

    select
        customer_id,
        coalesce(acquisition_channel, 'unknown') as acquisition_channel,
        total_revenue,
        first_order_at,
        last_order_at,
        -- a one-day customer still lived one month: avoids dividing by zero and
        -- infinite yearly rates for recent first-time buyers
        greatest({{ dbt.datediff('first_order_at', 'last_order_at', 'day') }}, 30) / 365.25 as lifespan_years
    from customers
    where first_order_at is not null

),

acquisition_costs as (

    select
        channel_map.acquisition_channel,
        sum(campaigns.cost) as acquisition_cost
    from campaigns
    inner join channel_map on campaigns.channel = channel_map.campaign_channel
    where campaigns.objective = 'acquisition'
    group by 1

),

channels as (

    select
        buyers.acquisition_channel,
        count(*) as customers,
        avg(buyers.lifespan_years) as average_lifespan_years,
        coalesce(max(acquisition_costs.acquisition_cost), 0) as acquisition_cost
    from buyers
    left join acquisition_costs on buyers.acquisition_channel = acquisition_costs.acquisition_channel
    group by 1

),

final as (

    select
        buyers.customer_id,
        buyers.acquisition_channel,
        cast(buyers.total_revenue as {{ type_double() }}) as total_revenue,
        cast(buyers.lifespan_years as {{ type_double() }}) as lifespan_years,
        cast(buyers.total_revenue / buyers.lifespan_years as {{ type_double() }}) as revenue_per_year,
        cast(channels.average_lifespan_years as {{ type_double() }}) as average_lifespan_years,
        cast(channels.acquisition_cost / channels.customers as {{ type_double() }}) as acquisition_cost,
        cast(
            buyers.total_revenue / buyers.lifespan_years * channels.average_lifespan_years
            - channels.acquisition_cost / channels.customers
            as {{ type_double() }}
        ) as historical_clv
    from buyers
    inner join channels on buyers.acquisition_channel = channels.acquisition_channel

)

select * from final
