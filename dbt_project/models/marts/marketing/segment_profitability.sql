{#-
    Profit and marketing return of every segment of every segmentation, long format
    (segmentation, segment):

    - rfm_segment / rfm_group: the 11-segment RFM map and its five-group roll-up
      (customer_rfm);
    - behavioural_segment: the learned segments (customer_segments, written by the
      Python asset marts/customer_segments; left out while that table does not exist);
    - lifecycle_stage (customer_lifecycle) and vap_cell (customer_vap).

    Money up to the as-of date (var as_of_date, default the last order date):
    revenue = sum of fct_orders.revenue_amount (net of returns); gross profit = margin
    of completed sales minus the margin of unmatched store returns (orders whose product
    cost is unknown add none); marketing cost = each campaign's cost spread evenly over
    the distinct customers it contacted (control-group members were not contacted and
    carry none). Field-notes arithmetic: net profit = gross profit − marketing cost =
    average profit per order × orders − marketing cost; ROI = net profit / marketing cost.

    Within each segmentation the rows add up to the business totals:
    '(unassigned)' holds customers with orders or campaign contacts that the
    segmentation does not cover (e.g. prospects in the RFM map, contacts with no
    purchase), and '(unallocated)' what belongs to no customer: orders without a
    resolved customer and the cost of campaigns that contacted no resolved customer
    (paid search and display buy audiences, not people).
-#}
{%- set segments_source = source('c360_models', 'customer_segments') -%}
{%- set has_behavioural = relation_exists(segments_source) -%}
-- depends_on: {{ source('c360_models', 'customer_segments') }}

with

orders as (

    select * from {{ ref('fct_orders') }}

),

campaigns as (

    select * from {{ ref('stg_campaigns__campaigns') }}

),

campaign_contacts as (

    select * from {{ ref('int_campaign_contacts_resolved') }}
    where not is_control

),

customer_rfm as (

    select * from {{ ref('customer_rfm') }}

),

customer_lifecycle as (

    select * from {{ ref('customer_lifecycle') }}

),

customer_vap as (

    select * from {{ ref('customer_vap') }}

),

{% if has_behavioural %}
customer_segments as (

    select * from {{ segments_source }}

),
{% endif %}

as_of as (

    select {{ rfm_as_of_date('orders') }} as as_of_date

),

orders_to_date as (

    select orders.*
    from orders
    cross join as_of
    where orders.ordered_on <= as_of.as_of_date

),

campaigns_to_date as (

    select campaigns.*
    from campaigns
    cross join as_of
    where cast(campaigns.started_at as date) <= as_of.as_of_date

),

customer_orders as (

    -- customer_id null = orders without a resolved customer (kept for '(unallocated)')
    select
        customer_id,
        sum(case when is_completed then 1 else 0 end) as orders,
        sum(revenue_amount) as revenue,
        sum(
            case
                when is_completed then coalesce(margin_amount, 0)
                when order_type = 'return' then -coalesce(margin_amount, 0)
                else 0
            end
        ) as gross_profit
    from orders_to_date
    group by customer_id

),

contacted as (

    select distinct
        campaign_contacts.campaign_id,
        campaign_contacts.customer_id
    from campaign_contacts
    inner join campaigns_to_date
        on campaign_contacts.campaign_id = campaigns_to_date.campaign_id

),

campaign_reach as (

    select
        campaign_id,
        count(*) as contacted_customers
    from contacted
    group by campaign_id

),

customer_costs as (

    select
        contacted.customer_id,
        sum(cast(campaigns_to_date.cost as {{ type_double() }}) / campaign_reach.contacted_customers)
            as marketing_cost,
        count(*) as campaigns_contacted
    from contacted
    inner join campaign_reach
        on contacted.campaign_id = campaign_reach.campaign_id
    inner join campaigns_to_date
        on contacted.campaign_id = campaigns_to_date.campaign_id
    group by contacted.customer_id

),

unallocated_cost as (

    select
        sum(cast(campaigns_to_date.cost as {{ type_double() }})) as marketing_cost
    from campaigns_to_date
    left join campaign_reach
        on campaigns_to_date.campaign_id = campaign_reach.campaign_id
    where campaign_reach.campaign_id is null

),

active_customers as (

    -- customers the P&L touches: an order or a campaign contact
    select customer_id from customer_orders where customer_id is not null
    union
    select customer_id from customer_costs

),

assignments as (

    select customer_id, 'rfm_segment' as segmentation, rfm_segment as segment from customer_rfm
    union all
    select customer_id, 'rfm_group' as segmentation, rfm_group as segment from customer_rfm
    {% if has_behavioural -%}
    union all
    select customer_id, 'behavioural_segment' as segmentation, segment_name as segment from customer_segments
    {% endif -%}
    union all
    select customer_id, 'lifecycle_stage' as segmentation, lifecycle_stage as segment from customer_lifecycle
    union all
    select customer_id, 'vap_cell' as segmentation, vap_cell as segment from customer_vap

),

segmentations as (

    select 'rfm_segment' as segmentation
    union all select 'rfm_group'
    {% if has_behavioural -%}
    union all select 'behavioural_segment'
    {% endif -%}
    union all select 'lifecycle_stage'
    union all select 'vap_cell'

),

customer_segmentation as (

    select customer_id, segmentation, coalesce(segment, '(unassigned)') as segment
    from assignments

    union all

    select
        active_customers.customer_id,
        segmentations.segmentation,
        '(unassigned)' as segment
    from active_customers
    cross join segmentations
    left join assignments
        on active_customers.customer_id = assignments.customer_id
        and segmentations.segmentation = assignments.segmentation
    where assignments.customer_id is null

),

segment_totals as (

    select
        customer_segmentation.segmentation,
        customer_segmentation.segment,
        count(*) as customers,
        sum(case when coalesce(customer_orders.orders, 0) > 0 then 1 else 0 end) as buyers,
        sum(case when customer_costs.customer_id is not null then 1 else 0 end) as contacted_customers,
        sum(coalesce(customer_orders.orders, 0)) as orders,
        sum(coalesce(customer_orders.revenue, 0)) as revenue,
        sum(coalesce(customer_orders.gross_profit, 0)) as gross_profit,
        sum(coalesce(customer_costs.marketing_cost, 0)) as marketing_cost
    from customer_segmentation
    left join customer_orders
        on customer_segmentation.customer_id = customer_orders.customer_id
    left join customer_costs
        on customer_segmentation.customer_id = customer_costs.customer_id
    group by customer_segmentation.segmentation, customer_segmentation.segment

),

unallocated as (

    select
        segmentations.segmentation,
        '(unallocated)' as segment,
        0 as customers,
        0 as buyers,
        0 as contacted_customers,
        coalesce(customer_orders.orders, 0) as orders,
        coalesce(customer_orders.revenue, 0) as revenue,
        coalesce(customer_orders.gross_profit, 0) as gross_profit,
        coalesce(unallocated_cost.marketing_cost, 0) as marketing_cost
    from segmentations
    cross join unallocated_cost
    left join customer_orders
        on customer_orders.customer_id is null
    where customer_orders.orders is not null or unallocated_cost.marketing_cost is not null

),

combined as (

    select * from segment_totals
    union all
    select * from unallocated

),

final as (

    select
        {{ dbt.concat(['combined.segmentation', "'|'", 'combined.segment']) }} as segment_profitability_id,
        combined.segmentation,
        combined.segment,
        as_of.as_of_date,
        cast(combined.customers as {{ dbt.type_int() }}) as customers,
        cast(combined.buyers as {{ dbt.type_int() }}) as buyers,
        cast(combined.contacted_customers as {{ dbt.type_int() }}) as contacted_customers,
        cast(combined.orders as {{ dbt.type_int() }}) as orders,
        cast(combined.revenue as {{ type_double() }}) as revenue,
        cast(combined.gross_profit as {{ type_double() }}) as gross_profit,
        cast(combined.gross_profit as {{ type_double() }}) / nullif(combined.orders, 0)
            as average_profit_per_order,
        cast(combined.marketing_cost as {{ type_double() }}) as marketing_cost,
        cast(combined.gross_profit - combined.marketing_cost as {{ type_double() }}) as net_profit,
        cast(
            (combined.gross_profit - combined.marketing_cost) / nullif(combined.marketing_cost, 0)
            as {{ type_double() }}
        ) as roi,
        cast(combined.revenue as {{ type_double() }})
            / nullif(sum(combined.revenue) over (partition by combined.segmentation), 0) as revenue_share

    from combined
    cross join as_of

)

select * from final
