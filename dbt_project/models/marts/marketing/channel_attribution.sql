{#-
    Conversions and revenue credited to channels by six attribution models, side by side
    (one row per model × channel; every model credits the same total: all completed
    sales with a resolved customer).

    Rule-based models, over each converting path of int_attribution_paths_assigned
    (touchpoints in var attribution_lookback_days before the order), in SQL:
    - first_touch / last_touch: all credit to the first / last touchpoint;
    - linear: 1 / n to each of the n touchpoints;
    - time_decay: weight 2^(−age / half-life) with age = days from the touchpoint to the
      order and half-life = var attribution_half_life_days, normalised to 1 per order;
    - position_based (U-shaped): var attribution_first_touch_weight (0.4) to the first,
      var attribution_last_touch_weight (0.4) to the last, the rest (0.2) spread evenly
      over the touchpoints in between; a two-touch path splits first : last in the same
      ratio (50 / 50), a one-touch path gives it everything.
    - markov: the data-driven removal effect of a first-order Markov chain over converting
      and non-converting paths (marts.channel_markov_attribution, written by a Python
      asset; rows left out while that table does not exist): a channel's share of the
      touched conversions and their revenue is its removal effect / the sum of all
      removal effects.
    Orders without any touchpoint are credited to '(no touch)' by every model.
-#}
{%- set markov_source = source('c360_models', 'channel_markov_attribution') -%}
{%- set has_markov = relation_exists(markov_source) -%}
{%- set half_life_days = var('attribution_half_life_days', 7) | float -%}
{%- set first_weight = var('attribution_first_touch_weight', 0.4) | float -%}
{%- set last_weight = var('attribution_last_touch_weight', 0.4) | float -%}
{%- if half_life_days <= 0 or first_weight < 0 or last_weight < 0 or first_weight + last_weight > 1 -%}
    {{ exceptions.raise_compiler_error(
        "attribution vars: half-life must be > 0, first and last weights >= 0 with a sum <= 1") }}
{%- endif -%}
-- depends_on: {{ source('c360_models', 'channel_markov_attribution') }}

with

paths as (

    select * from {{ ref('int_attribution_paths_assigned') }}
    where is_converting_path

),

{% if has_markov %}
markov as (

    select * from {{ markov_source }}

),
{% endif %}

weighted as (

    select
        path_id,
        channel,
        revenue,
        case when touch_position = 1 then 1.0 else 0.0 end as first_touch,
        case when touch_position = path_length then 1.0 else 0.0 end as last_touch,
        1.0 / path_length as linear,
        power(0.5, days_before_conversion / {{ half_life_days }}) as decay_weight,
        case
            when path_length = 1 then 1.0
            when path_length = 2 and touch_position = 1
                then {{ first_weight }} / nullif({{ first_weight + last_weight }}, 0)
            when path_length = 2 then {{ last_weight }} / nullif({{ first_weight + last_weight }}, 0)
            when touch_position = 1 then {{ first_weight }}
            when touch_position = path_length then {{ last_weight }}
            -- the middle share in SQL decimals: 1 - 0.4 - 0.4 in Jinja floats is 0.19999999999999996
            else (1.0 - {{ first_weight }} - {{ last_weight }}) / (path_length - 2)
        end as position_based
    from paths

),

normalised as (

    select
        weighted.*,
        decay_weight / sum(decay_weight) over (partition by path_id) as time_decay
    from weighted

),

rule_credits as (

    {%- set rule_models = ['first_touch', 'last_touch', 'linear', 'time_decay', 'position_based'] %}
    {%- for model_name in rule_models %}
    select
        '{{ model_name }}' as attribution_model,
        channel,
        sum({{ model_name }}) as conversions,
        sum({{ model_name }} * revenue) as revenue
    from normalised
    group by channel
    {% if not loop.last %}union all{% endif %}
    {%- endfor %}

),

{% if has_markov %}
markov_credits as (

    select
        'markov' as attribution_model,
        channel,
        conversions,
        revenue
    from markov

    union all

    -- touchless orders are outside the chain: '(no touch)' keeps them, as in every model
    select
        'markov' as attribution_model,
        channel,
        count(*) as conversions,
        sum(revenue) as revenue
    from paths
    where not has_touch
    group by channel

),
{% endif %}

credits as (

    select * from rule_credits
    {% if has_markov -%}
    union all
    select * from markov_credits
    {%- endif %}

),

touch_counts as (

    select
        channel,
        count(*) as touchpoints,
        count(distinct path_id) as converting_paths
    from paths
    group by channel

),

final as (

    select
        {{ dbt.concat(['credits.attribution_model', "'|'", 'credits.channel']) }} as channel_attribution_id,
        credits.attribution_model,
        credits.channel,
        cast(credits.conversions as {{ type_double() }}) as conversions,
        cast(credits.revenue as {{ type_double() }}) as revenue,
        cast(credits.conversions as {{ type_double() }})
            / nullif(sum(credits.conversions) over (partition by credits.attribution_model), 0)
            as conversion_share,
        cast(credits.revenue as {{ type_double() }})
            / nullif(sum(credits.revenue) over (partition by credits.attribution_model), 0) as revenue_share,
        cast(coalesce(touch_counts.touchpoints, 0) as {{ dbt.type_bigint() }}) as touchpoints,
        cast(coalesce(touch_counts.converting_paths, 0) as {{ dbt.type_bigint() }}) as converting_paths

    from credits
    left join touch_counts
        on credits.channel = touch_counts.channel

)

select * from final
