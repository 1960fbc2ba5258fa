{#-
    Confidence intervals for conversion rates and their differences, written out in SQL
    so that every campaign row carries its own interval (no Python step, any adapter).

    Wilson score interval of a proportion p = x / n at normal quantile z:
        centre = (p + z²/(2n)) / (1 + z²/n)
        half   = z / (1 + z²/n) · sqrt(p(1 − p)/n + z²/(4n²))
    It stays inside [0, 1] and keeps its coverage for small n and for p near 0 or 1,
    where the Wald interval p ± z·sqrt(p(1 − p)/n) collapses to a point (0 conversions
    in a control group of 9 gives Wald [0, 0]): control groups here are 8-12 % of a
    campaign's audience, often a few dozen people.

    Newcombe's hybrid score interval (Newcombe 1998, method 10) for d = p1 − p2, with
    (l1, u1), (l2, u2) the Wilson intervals of p1 and p2:
        lower = d − sqrt((p1 − l1)² + (u2 − p2)²)
        upper = d + sqrt((u1 − p1)² + (p2 − l2)²)
    Both render null when either group is empty.
-#}

{% macro wilson_bound(successes, trials, z, side) -%}
    {%- set sign = '-' if side == 'lower' else '+' -%}
    {%- set n = 'nullif(cast(' ~ trials ~ ' as ' ~ type_double() ~ '), 0)' -%}
    {%- set p = '(cast(' ~ successes ~ ' as ' ~ type_double() ~ ') / ' ~ n ~ ')' -%}
    {%- set zz = '(' ~ z ~ ' * ' ~ z ~ ')' -%}
    (
        ({{ p }} + {{ zz }} / (2 * {{ n }}))
        {{ sign }} {{ z }} * sqrt({{ p }} * (1 - {{ p }}) / {{ n }} + {{ zz }} / (4 * {{ n }} * {{ n }}))
    ) / (1 + {{ zz }} / {{ n }})
{%- endmacro %}


{% macro newcombe_difference_bound(successes_1, trials_1, successes_2, trials_2, z, side) -%}
    {%- set p1 = '(cast(' ~ successes_1 ~ ' as ' ~ type_double() ~ ') / nullif(' ~ trials_1 ~ ', 0))' -%}
    {%- set p2 = '(cast(' ~ successes_2 ~ ' as ' ~ type_double() ~ ') / nullif(' ~ trials_2 ~ ', 0))' -%}
    {%- set l1 = wilson_bound(successes_1, trials_1, z, 'lower') -%}
    {%- set u1 = wilson_bound(successes_1, trials_1, z, 'upper') -%}
    {%- set l2 = wilson_bound(successes_2, trials_2, z, 'lower') -%}
    {%- set u2 = wilson_bound(successes_2, trials_2, z, 'upper') -%}
    {%- if side == 'lower' -%}
    ({{ p1 }} - {{ p2 }} - sqrt(power({{ p1 }} - {{ l1 }}, 2) + power({{ u2 }} - {{ p2 }}, 2)))
    {%- else -%}
    ({{ p1 }} - {{ p2 }} + sqrt(power({{ u1 }} - {{ p1 }}, 2) + power({{ p2 }} - {{ l2 }}, 2)))
    {%- endif -%}
{%- endmacro %}


{#-
    True when `relation` (a ref or source) exists in the warehouse. Used for tables that
    Python assets write (the model then leaves their part out until the asset has run).
    In a dbt unit test a mocked input is a CTE with no schema: it counts as absent, so a
    unit test sees the same SQL on every machine whatever the warehouse holds (and
    adapter.get_relation is never called with a null schema, which dbt-duckdb rejects).
-#}
{% macro relation_exists(relation) -%}
    {{ return(
        execute
        and relation.schema is not none
        and adapter.get_relation(
            database=relation.database, schema=relation.schema, identifier=relation.identifier
        ) is not none
    ) }}
{%- endmacro %}
