{#-
    Every touchpoint put on a path, and every conversion given its path: the input of
    channel_attribution (rule-based models), int_attribution_transitions_counted (the
    Markov chain) and customer_journeys.

    Conversion = a completed sale with a resolved customer (fct_orders). A touchpoint
    belongs to the path of the customer's NEXT conversion (at or after it, nothing in
    between) when that conversion is at most var attribution_lookback_days later; a
    touchpoint shared by two conversions would be credited twice. All other touchpoints
    form non-converting paths: within the stretch between two conversions, a new path
    starts after a silence longer than the lookback. Non-converting paths are what the
    Markov chain needs to learn which channels lead nowhere. Touchpoints in the last
    lookback days of the data may still convert later; they count as non-converting.

    A conversion without any touchpoint in its lookback gets a one-step path on the
    pseudo-channel '(no touch)' (has_touch = false), so every conversion is on exactly
    one path and every attribution model credits the same total.

    purchase_type: `first_purchase` for the customer's first completed sale in the data
    (or a non-converting path before it), else `repeat_purchase`.
-#}
{%- set lookback_seconds = (var('attribution_lookback_days', 30) | float * 86400) | int -%}

with

touchpoints as (

    select * from {{ ref('int_attribution_touchpoints_collected') }}

),

orders as (

    select * from {{ ref('fct_orders') }}
    where customer_id is not null
        and is_completed

),

conversions as (

    select
        customer_id,
        order_id,
        ordered_at,
        revenue_amount,
        row_number() over (partition by customer_id order by ordered_at, order_id) as conversion_number
    from orders

),

timeline as (

    -- touchpoints and conversions of a customer in time order; at equal times the
    -- touchpoint comes first (it can still have led to that order)
    select customer_id, touchpoint_id as event_id, touched_at as event_at, 0 as is_conversion
    from touchpoints
    union all
    select customer_id, order_id as event_id, ordered_at as event_at, 1 as is_conversion
    from conversions

),

timeline_counted as (

    select
        customer_id,
        event_id,
        is_conversion,
        coalesce(
            sum(is_conversion) over (
                partition by customer_id
                order by event_at, is_conversion, event_id
                rows between unbounded preceding and 1 preceding
            ),
            0
        ) as conversions_before
    from timeline

),

touchpoints_next as (

    select
        touchpoints.touchpoint_id,
        touchpoints.customer_id,
        touchpoints.channel,
        touchpoints.touched_at,
        timeline_counted.conversions_before,
        conversions.order_id as next_order_id,
        conversions.ordered_at as next_ordered_at
    from touchpoints
    inner join timeline_counted
        on touchpoints.touchpoint_id = timeline_counted.event_id
        and timeline_counted.is_conversion = 0
    left join conversions
        on touchpoints.customer_id = conversions.customer_id
        and conversions.conversion_number = timeline_counted.conversions_before + 1

),

touchpoints_flagged as (

    select
        touchpoints_next.*,
        next_order_id is not null
            and {{ dbt.datediff('touched_at', 'next_ordered_at', 'second') }} <= {{ lookback_seconds }}
            as is_in_lookback
    from touchpoints_next

),

idle_touchpoints as (

    select
        touchpoint_id,
        customer_id,
        conversions_before,
        touched_at,
        lag(touched_at) over (
            partition by customer_id, conversions_before order by touched_at, touchpoint_id
        ) as previous_touched_at
    from touchpoints_flagged
    where not is_in_lookback

),

idle_starts as (

    select
        idle_touchpoints.*,
        case
            when previous_touched_at is null then 1
            when {{ dbt.datediff('previous_touched_at', 'touched_at', 'second') }} > {{ lookback_seconds }}
                then 1
            else 0
        end as starts_path
    from idle_touchpoints

),

idle_paths as (

    select
        touchpoint_id,
        sum(starts_path) over (
            partition by customer_id, conversions_before
            order by touched_at, touchpoint_id
            rows between unbounded preceding and current row
        ) as idle_path_number
    from idle_starts

),

path_touchpoints as (

    select
        touchpoints_flagged.customer_id,
        touchpoints_flagged.touchpoint_id,
        touchpoints_flagged.channel,
        touchpoints_flagged.touched_at,
        true as has_touch,
        case
            when touchpoints_flagged.is_in_lookback then touchpoints_flagged.next_order_id
            else {{ dbt.concat([
                "touchpoints_flagged.customer_id", "'|idle|'",
                dbt.safe_cast("touchpoints_flagged.conversions_before", dbt.type_string()), "'|'",
                dbt.safe_cast("idle_paths.idle_path_number", dbt.type_string()),
            ]) }}
        end as path_id,
        touchpoints_flagged.is_in_lookback as is_converting_path,
        case when touchpoints_flagged.is_in_lookback then touchpoints_flagged.next_order_id end as order_id,
        touchpoints_flagged.conversions_before
    from touchpoints_flagged
    left join idle_paths
        on touchpoints_flagged.touchpoint_id = idle_paths.touchpoint_id

),

touched_orders as (

    select distinct order_id
    from path_touchpoints
    where order_id is not null

),

untouched_conversions as (

    select
        conversions.customer_id,
        cast(null as {{ dbt.type_string() }}) as touchpoint_id,
        '(no touch)' as channel,
        conversions.ordered_at as touched_at,
        false as has_touch,
        conversions.order_id as path_id,
        true as is_converting_path,
        conversions.order_id,
        conversions.conversion_number - 1 as conversions_before
    from conversions
    left join touched_orders
        on conversions.order_id = touched_orders.order_id
    where touched_orders.order_id is null

),

all_paths as (

    select * from path_touchpoints
    union all
    select * from untouched_conversions

),

final as (

    select
        all_paths.path_id,
        all_paths.customer_id,
        all_paths.touchpoint_id,
        all_paths.channel,
        all_paths.has_touch,
        all_paths.touched_at,
        cast(row_number() over (
            partition by all_paths.path_id order by all_paths.touched_at, all_paths.touchpoint_id
        ) as {{ dbt.type_int() }}) as touch_position,
        cast(count(*) over (partition by all_paths.path_id) as {{ dbt.type_int() }}) as path_length,
        all_paths.is_converting_path,
        all_paths.order_id,
        conversions.ordered_at,
        cast(conversions.revenue_amount as {{ type_double() }}) as revenue,
        case
            when all_paths.conversions_before = 0 then 'first_purchase'
            else 'repeat_purchase'
        end as purchase_type,
        cast(
            {{ dbt.datediff('all_paths.touched_at', 'conversions.ordered_at', 'second') }}
            as {{ type_double() }}
        ) / 86400 as days_before_conversion

    from all_paths
    left join conversions
        on all_paths.order_id = conversions.order_id

)

select * from final
