{#-
    Keep one row per natural key: the earliest delivery (first loaded, then by file name
    and row number in the file, so the choice is deterministic on reruns). Exact
    duplicate deliveries and re-sent files collapse to the original row, whose lineage
    (_source_file, _source_row) is kept.

    `relation` is a CTE or relation name, `natural_key` a list of column names. The
    result carries an extra `_delivery_rank` column (always 1); select the columns you
    want from it.
-#}
{% macro deduplicate_deliveries(relation, natural_key) -%}
    select *
    from (
        select
            *,
            row_number() over (
                partition by {{ natural_key | join(', ') }}
                order by _loaded_at, _source_file, _source_row
            ) as _delivery_rank
        from {{ relation }}
    ) as ranked_deliveries
    where _delivery_rank = 1
{%- endmacro %}
