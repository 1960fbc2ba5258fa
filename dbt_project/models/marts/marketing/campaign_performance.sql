{#-
    Campaign KPIs by campaign × segment × channel, and the campaign's incremental effect
    measured against its randomised control group.

    Rows: for each segmentation of the customer BEFORE the touch (rfm_segment,
    lifecycle_stage; see int_campaign_contacts_measured) one row per segment, plus the
    campaign-level row with segmentation = segment = 'all'. Within a campaign and
    segmentation the rows add up to the 'all' row.

    - sent: contacted customers (treated); control_size: held-out customers.
    - delivered / opened / clicked: contacted customers with that event. A metric the
      campaign never recorded at all (no delivery tracking on social posts, no opens on
      SMS) is null rather than 0, and so are its rates.
    - conversion: an order in the response window after the touch; the same rule for
      contacted and control customers, so their difference is the campaign's effect.
    - lift = conversion rate (sent) − conversion rate (control), with Newcombe's hybrid
      score interval at var campaign_lift_z (macros/marketing_statistics.sql).
    - incremental revenue / gross profit = sent × (per-contact value of the treated −
      per-control value of the control group): what the campaign added, not what its
      contacts spent anyway.
    - cost: the campaign's cost spread evenly over the customers it contacted (as in
      segment_profitability), so a segment carries cost × its share of the contacts.
    - roi = (incremental gross profit − cost) / cost.
-#}
{%- set z = var('campaign_lift_z', 1.96) | float -%}

with

contacts as (

    select * from {{ ref('int_campaign_contacts_measured') }}

),

campaigns as (

    select * from {{ ref('stg_campaigns__campaigns') }}

),

segmented as (

    select *, 'all' as segmentation, 'all' as segment from contacts
    union all
    select *, 'rfm_segment' as segmentation, rfm_segment_before as segment from contacts
    union all
    select *, 'lifecycle_stage' as segmentation, lifecycle_stage_before as segment from contacts

),

aggregated as (

    select
        campaign_id,
        segmentation,
        segment,
        channel,
        max(response_window_days) as response_window_days,
        count(*) as targeted,
        sum(case when not is_control then 1 else 0 end) as sent,
        sum(case when is_control then 1 else 0 end) as control_size,
        sum(case when not is_control and is_delivered then 1 else 0 end) as delivered,
        sum(case when not is_control and is_opened then 1 else 0 end) as opened,
        sum(case when not is_control and is_clicked then 1 else 0 end) as clicked,
        sum(case when not is_control and is_converted then 1 else 0 end) as conversions,
        sum(case when is_control and is_converted then 1 else 0 end) as control_conversions,
        sum(case when not is_control then window_revenue else 0 end) as revenue,
        sum(case when is_control then window_revenue else 0 end) as control_revenue,
        sum(case when not is_control then window_gross_profit else 0 end) as gross_profit,
        sum(case when is_control then window_gross_profit else 0 end) as control_gross_profit
    from segmented
    group by campaign_id, segmentation, segment, channel

),

tracked as (

    -- which events the campaign records at all (whole campaign, every segment)
    select
        campaign_id,
        max(case when is_delivered then 1 else 0 end) = 1 as tracks_delivery,
        max(case when is_opened then 1 else 0 end) = 1 as tracks_opens
    from contacts
    group by campaign_id

),

costed as (

    select
        aggregated.*,
        cast(campaigns.cost as {{ type_double() }}) * aggregated.sent
            / nullif(sum(aggregated.sent) over (
                partition by aggregated.campaign_id, aggregated.segmentation
            ), 0)
            as cost,
        case when tracked.tracks_delivery then aggregated.delivered end as delivered_tracked,
        case when tracked.tracks_opens then aggregated.opened end as opened_tracked
    from aggregated
    inner join campaigns
        on aggregated.campaign_id = campaigns.campaign_id
    inner join tracked
        on aggregated.campaign_id = tracked.campaign_id

),

rated as (

    select
        costed.*,
        cast(conversions as {{ type_double() }}) / nullif(sent, 0) as conversion_rate,
        cast(control_conversions as {{ type_double() }}) / nullif(control_size, 0) as control_conversion_rate,
        sent * (revenue / nullif(sent, 0) - control_revenue / nullif(control_size, 0)) as incremental_revenue,
        sent * (gross_profit / nullif(sent, 0) - control_gross_profit / nullif(control_size, 0))
            as incremental_gross_profit,
        {{ newcombe_difference_bound(
            'conversions', 'sent', 'control_conversions', 'control_size', z, 'lower'
        ) }}
            as lift_ci_lower,
        {{ newcombe_difference_bound(
            'conversions', 'sent', 'control_conversions', 'control_size', z, 'upper'
        ) }}
            as lift_ci_upper
    from costed

),

final as (

    select
        {{ dbt.concat([
            'rated.campaign_id', "'|'", 'rated.segmentation', "'|'", 'rated.segment', "'|'", 'rated.channel'
        ]) }}
            as campaign_performance_id,
        rated.campaign_id,
        campaigns.campaign_name,
        campaigns.objective,
        cast(campaigns.discount_pct as {{ type_double() }}) as discount_pct,
        campaigns.started_at,
        rated.segmentation,
        rated.segment,
        rated.channel,
        cast(rated.response_window_days as {{ dbt.type_int() }}) as response_window_days,
        cast(rated.targeted as {{ dbt.type_int() }}) as targeted,
        cast(rated.sent as {{ dbt.type_int() }}) as sent,
        cast(rated.control_size as {{ dbt.type_int() }}) as control_size,
        cast(rated.delivered_tracked as {{ dbt.type_int() }}) as delivered,
        cast(rated.opened_tracked as {{ dbt.type_int() }}) as opened,
        cast(rated.clicked as {{ dbt.type_int() }}) as clicked,
        cast(rated.delivered_tracked as {{ type_double() }}) / nullif(rated.sent, 0) as delivery_rate,
        cast(rated.opened_tracked as {{ type_double() }}) / nullif(rated.delivered_tracked, 0) as open_rate,
        cast(rated.clicked as {{ type_double() }})
            / nullif(coalesce(rated.delivered_tracked, rated.sent), 0)
            as click_through_rate,
        cast(rated.conversions as {{ dbt.type_int() }}) as conversions,
        cast(rated.control_conversions as {{ dbt.type_int() }}) as control_conversions,
        rated.conversion_rate,
        rated.control_conversion_rate,
        rated.conversion_rate - rated.control_conversion_rate as lift,
        rated.lift_ci_lower,
        rated.lift_ci_upper,
        coalesce(rated.lift_ci_lower > 0 or rated.lift_ci_upper < 0, false) as is_lift_significant,
        (rated.conversion_rate - rated.control_conversion_rate) / nullif(rated.control_conversion_rate, 0)
            as relative_lift,
        (rated.conversion_rate - rated.control_conversion_rate) * rated.sent as incremental_conversions,
        cast(rated.revenue as {{ type_double() }}) as revenue,
        cast(rated.incremental_revenue as {{ type_double() }}) as incremental_revenue,
        cast(rated.gross_profit as {{ type_double() }}) as gross_profit,
        cast(rated.incremental_gross_profit as {{ type_double() }}) as incremental_gross_profit,
        cast(rated.cost as {{ type_double() }}) as cost,
        cast(
            (rated.incremental_gross_profit - rated.cost) / nullif(rated.cost, 0) as {{ type_double() }}
        ) as roi

    from rated
    inner join campaigns
        on rated.campaign_id = campaigns.campaign_id

)

select * from final
