{#- Money amounts: the contract type DECIMAL(18,2), portable across DuckDB, Postgres and Spark. -#}
{% macro type_money() -%}
    {{ return(adapter.dispatch('type_money', 'c360')()) }}
{%- endmacro %}

{% macro default__type_money() -%}
    decimal(18, 2)
{%- endmacro %}

{#-
    Double-precision floats for ratios. dbt.type_float() renders `float`, which is a
    4-byte REAL in DuckDB and Spark; ratios and percentages want 8 bytes everywhere.
-#}
{% macro type_double() -%}
    {{ return(adapter.dispatch('type_double', 'c360')()) }}
{%- endmacro %}

{% macro default__type_double() -%}
    double precision
{%- endmacro %}

{% macro duckdb__type_double() -%}
    double
{%- endmacro %}

{% macro spark__type_double() -%}
    double
{%- endmacro %}
