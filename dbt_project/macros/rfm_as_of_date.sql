{#-
    The reference date of "as of" calculations (RFM recency, 30 / 90-day activity
    windows, age).

    - `var('as_of_date')` set (e.g. `--vars '{as_of_date: "2024-12-31"}'`): that date.
      It must be an ISO date (YYYY-MM-DD); anything else is a compile error, so a var
      can never inject SQL.
    - unset (null, the default): the last order date in the data, read from
      `orders_relation` (any order, whatever its status).

    `orders_relation` is the name of an import CTE or a relation with a date column
    `date_column`. Renders a scalar SQL expression of type date; use it once, in a
    one-row CTE (`select {{ rfm_as_of_date('orders') }} as as_of_date`).
-#}
{% macro rfm_as_of_date(orders_relation, date_column='ordered_on') -%}
    {%- set as_of = var('as_of_date', none) -%}
    {%- if as_of is not none and (as_of | string | trim) != '' -%}
        {%- set as_of = as_of | string | trim -%}
        {%- if not modules.re.match('^[0-9]{4}-[0-9]{2}-[0-9]{2}$', as_of) -%}
            {{ exceptions.raise_compiler_error("var('as_of_date') must be an ISO date YYYY-MM-DD, got: " ~ as_of) }}
        {%- endif -%}
        cast('{{ as_of }}' as date)
    {%- else -%}
        (select max({{ date_column }}) from {{ orders_relation }})
    {%- endif -%}
{%- endmacro %}
