{#-
    Use custom schema names as they are, instead of dbt's default
    `<target_schema>_<custom_schema>`: staging models build into `staging`,
    intermediate into `intermediate`, marts into `marts`. Models without a custom
    schema fall back to the target schema.

    var `c360_schema_prefix` (default empty) builds a scratch copy beside the real
    layers: the erasure step (orchestration/erasure.py) resolves identities into
    `erasure_scope__staging`, `erasure_scope__intermediate`, ... without touching them.
-#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- set prefix = var('c360_schema_prefix', '') -%}
    {%- if custom_schema_name is none -%}
        {{ prefix ~ target.schema }}
    {%- else -%}
        {{ prefix ~ (custom_schema_name | trim) }}
    {%- endif -%}
{%- endmacro %}
