{#-
    Generic data tests of the marketing marts (models/marts/marketing).
-#}

{#- Rows whose combination of `columns` is not unique (a composite primary key). -#}
{% test columns_unique_together(model, columns) %}

select
    {{ columns | join(', ') }},
    count(*) as row_count
from {{ model }}
group by {{ columns | join(', ') }}
having count(*) > 1

{% endtest %}


{#-
    Long-format tables where every group must account for the same whole: the sums of
    `measures` over the rows of each `group_by` value (a segmentation, an attribution
    model) must be equal, within `tolerance`, inside each `partition_by` partition.
    Fails with the partitions whose groups disagree.
-#}
{% test groups_have_equal_totals(model, group_by, measures, partition_by=[], tolerance=0.01) %}

with

totals as (

    select
        {% for column in partition_by %}{{ column }}, {% endfor %}
        {{ group_by }},
        {% for measure in measures -%}
        sum({{ measure }}) as {{ measure }}{% if not loop.last %},{% endif %}
        {% endfor %}
    from {{ model }}
    group by {% for column in partition_by %}{{ column }}, {% endfor %}{{ group_by }}

),

spreads as (

    select
        {% for column in partition_by %}{{ column }}, {% endfor %}
        {% for measure in measures -%}
        max({{ measure }}) - min({{ measure }}) as {{ measure }}_spread{% if not loop.last %},{% endif %}
        {% endfor %}
    from totals
    {% if partition_by %}group by {{ partition_by | join(', ') }}{% endif %}

)

select *
from spreads
where
    {% for measure in measures -%}
    {{ measure }}_spread > {{ tolerance }}{% if not loop.last %} or{% endif %}
    {% endfor %}

{% endtest %}
