{#-
    The first-order Markov chain of customer paths, as transition counts: every path of
    int_attribution_paths_assigned that has touchpoints is read as
    (start) → channel → … → channel → (conversion) or (null), and each step is counted.
    The Python asset marts/channel_markov_attribution turns these counts into removal
    effects (orchestration/ml/attribution.py). Conversions without touchpoints are not
    part of the chain: no channel can be removed from them; channel_attribution credits
    them to '(no touch)' in every model.

    revenue: the revenue of the converting paths behind a transition into (conversion)
    (0 for the other transitions), so the Python step knows what to distribute without
    reading event-grain data.
-#}

with

paths as (

    select * from {{ ref('int_attribution_paths_assigned') }}
    where has_touch

),

steps as (

    select
        case when touch_position = 1 then '(start)' end as start_state,
        channel as from_state,
        coalesce(
            lead(channel) over (partition by path_id order by touch_position),
            case when is_converting_path then '(conversion)' else '(null)' end
        ) as to_state,
        case when touch_position = path_length and is_converting_path then revenue else 0 end as revenue
    from paths

),

transitions as (

    select start_state as from_state, from_state as to_state, 0 as revenue
    from steps
    where start_state is not null

    union all

    select from_state, to_state, revenue
    from steps

),

final as (

    select
        from_state,
        to_state,
        cast(count(*) as {{ dbt.type_bigint() }}) as transition_count,
        cast(sum(revenue) as {{ type_double() }}) as revenue

    from transitions
    group by from_state, to_state

)

select * from final
