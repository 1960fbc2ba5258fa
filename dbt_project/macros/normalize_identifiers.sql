{#-
    Identifier normalisation used by every staging model. These only fix FORMATTING:
    junk placeholders that are well formed (test@test.com, 13800000000, 'unknown' ids)
    are kept here and guarded later by identity resolution.
-#}

{#- lower(trim(email)); null when empty or not a plausible address -#}
{% macro normalize_email(column) -%}
    {%- set cleaned = 'lower(trim(' ~ column ~ '))' -%}
    case
        when {{ c360.regex_matches(cleaned, '^[a-z0-9._%+-]+@[a-z0-9-]+([.][a-z0-9-]+)*[.][a-z]{2,}$') }}
            then {{ cleaned }}
    end
{%- endmacro %}


{#-
    Mainland-China mobile numbers in E.164: keep digits only, drop a leading 86 / 0086
    country code when that leaves 11 digits, require 11 digits starting with 1, and
    return '+86' || digits. Anything else (too short, letters only, landlines) is null,
    and so is a number written with another '+' country code ('+1 415 555 0100' has 11
    digits starting with 1, but is not a Chinese mobile).
      '+86 138 0013 8000', '0086-13800138000', '138-0013-8000', '13800138000'
        -> '+8613800138000'
-#}
{% macro normalize_phone(column) -%}
    {%- set digits = c360.regex_replace_all(column, '[^0-9]', '') | trim -%}
    {%- set n_digits = dbt.length(digits) | trim -%}
    case
        when trim({{ column }}) like '+%' and {{ digits }} not like '86%'
            then null
        when {{ n_digits }} = 11 and {{ digits }} like '1%'
            then {{ dbt.concat(["'+86'", digits]) | trim }}
        when {{ n_digits }} = 13 and {{ digits }} like '861%'
            then {{ dbt.concat(["'+'", digits]) | trim }}
        when {{ n_digits }} = 15 and {{ digits }} like '00861%'
            then {{ dbt.concat(["'+'", dbt.right(digits, 13) | trim]) | trim }}
    end
{%- endmacro %}


{#- trimmed identifier; null when empty -#}
{% macro normalize_id(column) -%}
    nullif(trim({{ column }}), '')
{%- endmacro %}


{#- categorical code (status, type, channel): lower(trim()); null when empty -#}
{% macro normalize_category(column) -%}
    nullif(lower(trim({{ column }})), '')
{%- endmacro %}
