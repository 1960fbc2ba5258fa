{#-
    RFM scoring. `rfm_scores_by_value` renders a SELECT that gives, for every distinct
    value of `column` in `relation` (within each `partition_by` group), its score
    1..n_bins (default 5) as `score_name`. Join it back to the relation on the value
    (and the partition).

    Tie handling — EQUAL VALUES GET EQUAL SCORES. The score is a function of the value's
    percent rank, ties taking the rank of the first tied row (SQL `rank()`):

        pr    = (rank - 1) / (n - 1)     where rank - 1 = rows with a worse value
        score = least(n_bins, 1 + floor(n_bins * pr))   -- pr in [0, .2) -> 1, ..., [.8, 1] -> 5

    so two customers with the same value always get the same score (an `ntile()` would
    split a tie group across scores by an arbitrary tie-breaker such as customer_id,
    putting identical customers in different segments). The price: when one value is
    very common (say, one order) its whole group takes the score of its lowest position,
    bins are unequal and some scores may be empty. Without ties the bins are equal
    fifths (sizes differ by at most one).

    - `higher_is_better`: true for frequency and monetary (more = 5); false for recency
      days (fewer days since the last order = 5).
    - `partition_by`: optional column (e.g. snapshot_date) to score within.
    - A partition with a single row scores 1.

    Why per distinct value rather than `rank() over (order by column)` on the customer
    rows: the window then sorts only (value, count) pairs — a few hundred recency or
    frequency values, fewer monetary values than customers — instead of every customer
    row with all its columns, which made scoring 1M customers several times slower.
    Same result by construction: rank - 1 is the running count of the rows with a worse
    value.

    The arithmetic is exact: n_bins * (rank - 1) and n - 1 are integers, and the floor of
    their quotient in double precision is never off by one (a non-integer quotient is at
    least 1 / (n - 1) away from the next integer).
-#}
{% macro rfm_scores_by_value(relation, column, score_name, higher_is_better=true, partition_by=none, n_bins=5) -%}
    {%- set partition_clause = 'partition by ' ~ partition_by if partition_by else '' -%}
    select
        {% if partition_by -%}
        {{ partition_by }},
        {% endif -%}
        {{ column }},
        least(
            {{ n_bins }},
            1 + cast(coalesce(floor(
                cast(
                    {{ n_bins }} * coalesce(sum(value_count) over (
                        {{ partition_clause }}
                        order by {{ column }} {{ 'asc' if higher_is_better else 'desc' }}
                        rows between unbounded preceding and 1 preceding
                    ), 0)
                    as {{ c360.type_double() }}
                )
                / nullif(sum(value_count) over ({{ partition_clause }}) - 1, 0)
            ), 0) as {{ dbt.type_int() }})
        ) as {{ score_name }}
    from (
        select
            {% if partition_by -%}
            {{ partition_by }},
            {% endif -%}
            {{ column }},
            count(*) as value_count
        from {{ relation }}
        group by {% if partition_by %}{{ partition_by }}, {% endif %}{{ column }}
    ) as value_counts
{%- endmacro %}
