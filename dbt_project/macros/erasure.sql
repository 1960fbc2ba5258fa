{#-
    Right to erasure: the hook for audience and export models (orchestration/erasure.py).

    Erased people are already gone from every model built from raw, because raw/erasures
    deletes their rows before staging. Audience models add this guard anyway, for values that
    reach an audience another way (a hand-uploaded list, a seed):

        where not {{ erasure_is_erased("'email'", 'email') }}
        where not {{ erasure_is_erased("'customer_id'", 'customer_id') }}

    `identifier_type` is a SQL expression (a quoted literal, or a column holding the type);
    `value` must already be normalised the staging way (normalize_email, normalize_phone,
    normalize_id; open ids as `<platform>:<open id>`).
-#}
{% macro erasure_is_erased(identifier_type, value) -%}
    exists (
        select 1
        from {{ source('erasure', 'erasure_tombstones') }} as erasure_tombstones
        where erasure_tombstones.identifier_type = {{ identifier_type }}
            and erasure_tombstones.identifier_hash = {{ c360.erasure_hash(identifier_type, value) }}
    )
{%- endmacro %}


{#-
    Hex SHA-256 of `<salt>|<type>|<value>`, the tombstone hash of orchestration/erasure.py
    (hash_sql). The salt is the customer-id salt, C360_IDENTITY_SALT.
-#}
{% macro erasure_hash(identifier_type, value) -%}
    {{ return(adapter.dispatch('erasure_hash', 'c360')(identifier_type, value)) }}
{%- endmacro %}

{% macro default__erasure_hash(identifier_type, value) -%}
    {%- set salt = env_var('C360_IDENTITY_SALT', 'c360-development-salt') | replace("'", "''") -%}
    sha256('{{ salt }}' || '|' || {{ identifier_type }} || '|' || {{ value }})
{%- endmacro %}

{% macro postgres__erasure_hash(identifier_type, value) -%}
    {%- set salt = env_var('C360_IDENTITY_SALT', 'c360-development-salt') | replace("'", "''") -%}
    encode(sha256(convert_to('{{ salt }}' || '|' || {{ identifier_type }} || '|' || {{ value }}, 'UTF8')), 'hex')
{%- endmacro %}

{% macro spark__erasure_hash(identifier_type, value) -%}
    {%- set salt = env_var('C360_IDENTITY_SALT', 'c360-development-salt') | replace("'", "''") -%}
    sha2(concat('{{ salt }}', '|', {{ identifier_type }}, '|', {{ value }}), 256)
{%- endmacro %}
