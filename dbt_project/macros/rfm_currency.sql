{#-
    `amount` (in `currency`) converted to the reporting currency (var
    `reporting_currency`) with the fixed rates of var `currency_rates`
    ({code: reporting units per unit}); null for a currency without a rate, so that an
    unexpected currency shows up as a failing not_null test instead of being summed
    as if it were the reporting currency. Codes must be 3 letters and rates numbers
    (compile error otherwise), so a var can never inject SQL.
-#}
{% macro rfm_to_reporting_currency(amount, currency) -%}
    {%- set rates = var('currency_rates', {var('reporting_currency', 'CNY'): 1.0}) -%}
    case {{ currency }}
        {%- for code, rate in rates.items() %}
        {%- if not modules.re.match('^[A-Z]{3}$', code | string) or rate is not number %}
            {{ exceptions.raise_compiler_error("var('currency_rates') needs 3-letter codes and numeric rates, got: " ~ code ~ ': ' ~ rate) }}
        {%- endif %}
        when '{{ code }}' then {{ amount }} * {{ rate }}
        {%- endfor %}
    end
{%- endmacro %}
