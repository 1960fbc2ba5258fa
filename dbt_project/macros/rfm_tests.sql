{#-
    Generic data tests for the RFM rule seeds (see seeds/_rfm__seeds.yml).
-#}

{#-
    rfm_rules_cover_every_cell: the rule table maps every R x F x M cell (scores
    1..n_bins each) exactly once. Returns one row per failing cell: missing
    (rule_count = 0), mapped more than once (rule_count > 1), or outside the score range
    (is_out_of_range).
-#}
{% test rfm_rules_cover_every_cell(model, n_bins=5) %}

with

scores as (

    {% for score in range(1, n_bins + 1) -%}
    select {{ score }} as score{% if not loop.last %} union all{% endif %}
    {% endfor %}

),

cells as (

    select
        r.score as r_score,
        f.score as f_score,
        m.score as m_score
    from scores as r
    cross join scores as f
    cross join scores as m

),

rules as (

    select
        r_score,
        f_score,
        m_score,
        count(*) as rule_count
    from {{ model }}
    group by r_score, f_score, m_score

),

final as (

    select
        coalesce(cells.r_score, rules.r_score) as r_score,
        coalesce(cells.f_score, rules.f_score) as f_score,
        coalesce(cells.m_score, rules.m_score) as m_score,
        coalesce(rules.rule_count, 0) as rule_count,
        cells.r_score is null as is_out_of_range
    from cells
    full outer join rules
        on cells.r_score = rules.r_score
        and cells.f_score = rules.f_score
        and cells.m_score = rules.m_score
    where cells.r_score is null
        or rules.rule_count is null
        or rules.rule_count <> 1

)

select * from final

{% endtest %}


{#-
    rfm_segment_is_reachable: every value of `column_name` (a segment listed in the
    segment -> group table) is the target of at least one cell in `rules`. Returns the
    unreachable segments.
-#}
{% test rfm_segment_is_reachable(model, column_name, rules, rules_column='rfm_segment') %}

with

segments as (

    select distinct {{ column_name }} as rfm_segment from {{ model }}

),

reachable as (

    select distinct {{ rules_column }} as rfm_segment from {{ rules }}

),

final as (

    select segments.rfm_segment
    from segments
    left join reachable
        on segments.rfm_segment = reachable.rfm_segment
    where reachable.rfm_segment is null

)

select * from final

{% endtest %}


{#-
    rfm_scores_follow_values: the score column `column_name` is a non-decreasing
    function of `value_column` (non-increasing when higher_is_better is false) within
    each `partition_by` group. Implies that equal values get equal scores (the
    documented tie handling of rfm_scores_by_value). Returns the values whose score range
    overlaps the score range of another value in the wrong order, or that carry
    more than one score.
-#}
{% test rfm_scores_follow_values(model, column_name, value_column, higher_is_better=true, partition_by=none) %}

with

value_scores as (

    select
        {% if partition_by %}{{ partition_by }} as score_partition,{% else %}1 as score_partition,{% endif %}
        {{ value_column }} as score_value,
        min({{ column_name }}) as min_score,
        max({{ column_name }}) as max_score
    from {{ model }}
    group by {% if partition_by %}{{ partition_by }}, {% endif %}{{ value_column }}

),

ordered as (

    select
        value_scores.*,
        lag(max_score) over (
            partition by score_partition
            order by score_value {{ 'asc' if higher_is_better else 'desc' }}
        ) as previous_max_score
    from value_scores

),

final as (

    select *
    from ordered
    where min_score <> max_score
        or min_score < previous_max_score

)

select * from final

{% endtest %}
