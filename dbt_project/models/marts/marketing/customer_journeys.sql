{#-
    The most common cross-channel paths to a first and to a repeat purchase, with how
    often they end in an order and how long that takes.

    A journey is a path of int_attribution_paths_assigned: the touchpoints before an
    order (within var attribution_lookback_days), or a run of touchpoints that led to no
    order. Its channel path is the channel sequence with consecutive repeats collapsed
    (e-mail, e-mail, web → `email > direct`) and capped at the last
    var journey_max_path_length channels (the ones nearest the decision), prefixed with
    `… > ` when cut. An order without touchpoints has the path `(no touch)`.

    Per purchase type and channel path: journeys, conversions, conversion rate =
    conversions / journeys, median days from the first touchpoint to the order, revenue.
    The var journey_top_paths paths of each purchase type with the most conversions
    (then the most journeys) are kept; the rest are summed into one `(other paths)` row, so the rows of a
    purchase type add up to all its journeys.
-#}
{%- set max_length = var('journey_max_path_length', 5) | int -%}
{%- set top_paths = var('journey_top_paths', 50) | int -%}

with

paths as (

    select * from {{ ref('int_attribution_paths_assigned') }}

),

steps as (

    select
        path_id,
        channel,
        touch_position,
        case
            when channel = lag(channel) over (partition by path_id order by touch_position) then 0
            else 1
        end as is_new_step
    from paths

),

distinct_steps as (

    select
        path_id,
        channel,
        row_number() over (partition by path_id order by touch_position) as step_number,
        count(*) over (partition by path_id) as step_count
    from steps
    where is_new_step = 1

),

capped_paths as (

    select
        path_id,
        max(step_count) as step_count,
        {{ dbt.listagg('channel', "' > '", 'order by step_number') }} as channels
    from distinct_steps
    where step_number > step_count - {{ max_length }}
    group by path_id

),

journeys as (

    select
        paths.path_id,
        paths.purchase_type,
        paths.is_converting_path,
        case
            when capped_paths.step_count > {{ max_length }}
                then {{ dbt.concat(["'… > '", 'capped_paths.channels']) }}
            else capped_paths.channels
        end as channel_path,
        capped_paths.step_count,
        max(paths.path_length) as touchpoint_count,
        max(case when paths.touch_position = 1 and paths.has_touch then paths.days_before_conversion end)
            as days_to_convert,
        max(paths.revenue) as revenue
    from paths
    inner join capped_paths
        on paths.path_id = capped_paths.path_id
    group by
        paths.path_id,
        paths.purchase_type,
        paths.is_converting_path,
        capped_paths.step_count,
        capped_paths.channels

),

ranked as (

    select
        purchase_type,
        channel_path,
        row_number() over (
            partition by purchase_type
            order by sum(case when is_converting_path then 1 else 0 end) desc, count(*) desc, channel_path
        ) as path_rank
    from journeys
    group by purchase_type, channel_path

),

labelled as (

    select
        journeys.*,
        case when ranked.path_rank <= {{ top_paths }} then journeys.channel_path else '(other paths)' end
            as reported_path,
        case when ranked.path_rank <= {{ top_paths }} then ranked.path_rank else {{ top_paths + 1 }} end
            as reported_rank
    from journeys
    inner join ranked
        on journeys.purchase_type = ranked.purchase_type
        and journeys.channel_path = ranked.channel_path

),

final as (

    select
        {{ dbt.concat(['purchase_type', "'|'", 'reported_path']) }} as customer_journey_id,
        purchase_type,
        reported_path as channel_path,
        cast(min(reported_rank) as {{ dbt.type_int() }}) as path_rank,
        cast(
            max(case when reported_path = '(other paths)' then null else step_count end)
            as {{ dbt.type_int() }}
        ) as path_length,
        cast(count(*) as {{ dbt.type_bigint() }}) as journeys,
        cast(sum(case when is_converting_path then 1 else 0 end) as {{ dbt.type_bigint() }}) as conversions,
        cast(sum(case when is_converting_path then 1 else 0 end) as {{ type_double() }}) / count(*)
            as conversion_rate,
        cast(avg(touchpoint_count) as {{ type_double() }}) as average_touchpoints,
        cast(percentile_cont(0.5) within group (order by days_to_convert) as {{ type_double() }})
            as median_days_to_convert,
        cast(coalesce(sum(revenue), 0) as {{ type_double() }}) as revenue

    from labelled
    group by purchase_type, reported_path

)

select * from final
