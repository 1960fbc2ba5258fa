{#-
    Every identifier observation: one row per (staging record, identifier) for each
    staging model that carries identifiers (macro identity_record_sources). Values are
    the staging layer's normalised forms; open ids are qualified by their platform.
-#}
{%- set record_sources = identity_record_sources() -%}

with

{% for record_source in record_sources %}
{{ record_source.model }} as (

    select * from {{ ref(record_source.model) }}

),

{% endfor -%}

{% for record_source in record_sources %}
{{ record_source.model }}_identifiers as (

    {%- set identifier_count -%}
        {%- for identifier in record_source.identifiers -%}
            case when {{ identifier[1] }} is not null then 1 else 0 end
            {%- if not loop.last %} + {% endif -%}
        {%- endfor -%}
    {%- endset %}

    {%- for identifier in record_source.identifiers %}

    select
        '{{ record_source.model }}' as source_model,
        cast({{ record_source.record_id }} as {{ dbt.type_string() }}) as record_id,
        '{{ identifier[0] }}' as identifier_type,
        cast({{ identifier[1] }} as {{ dbt.type_string() }}) as identifier_value,
        cast({{ record_source.observed_at }} as {{ dbt.type_timestamp() }}) as observed_at,
        cast({{ identifier_count }} as {{ dbt.type_int() }}) as record_identifier_count
    from {{ record_source.model }}
    where {{ identifier[1] }} is not null
    {%- if not loop.last %}

    union all
    {%- endif %}
    {%- endfor %}

),

{% endfor -%}

unioned as (

    {%- for record_source in record_sources %}

    select * from {{ record_source.model }}_identifiers
    {%- if not loop.last %}
    union all
    {%- endif %}
    {%- endfor %}

),

final as (

    select
        source_model,
        record_id,
        identifier_type,
        identifier_value,
        observed_at,
        record_identifier_count

    from unioned

)

select * from final
