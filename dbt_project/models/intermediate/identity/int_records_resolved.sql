{#-
    THE interface of identity resolution: the customer of every staging record that
    carries at least one usable identifier. One row per (source_model, record_id):
    source_model is the staging model's name and record_id its primary key as a string.

    A record belongs to the cluster of its linking identifiers (they all lie in one
    cluster by construction), else to the cluster its guarded-but-attached identifiers
    were attached to. Records whose identifiers are all junk or ambiguous shared values
    (a household mailbox, a store tablet) are left out: no customer can be told from
    them; identity_resolution_report counts them per source. Line models
    (order lines, transaction lines) inherit their header record's customer.
-#}
{%- set line_sources = identity_line_record_sources() -%}

with

records_clustered as (

    select * from {{ ref('int_records_clustered') }}
    where cluster_id is not null

),

customer_anchors as (

    select * from {{ ref('int_customer_anchors_assigned') }}
    where is_current

),

{% for line_source in line_sources %}
{{ line_source.model }} as (

    select * from {{ ref(line_source.model) }}

),

{% endfor -%}

header_records as (

    select
        records_clustered.source_model,
        records_clustered.record_id,
        customer_anchors.customer_id
    from records_clustered
    inner join customer_anchors
        on records_clustered.cluster_id = customer_anchors.cluster_id

),

{% for line_source in line_sources %}
{{ line_source.model }}_records as (

    select
        '{{ line_source.model }}' as source_model,
        cast({{ line_source.model }}.{{ line_source.record_id }} as {{ dbt.type_string() }}) as record_id,
        header_records.customer_id
    from {{ line_source.model }}
    inner join header_records
        on header_records.source_model = '{{ line_source.header_model }}'
        and cast({{ line_source.model }}.{{ line_source.header_id }} as {{ dbt.type_string() }})
            = header_records.record_id

),

{% endfor -%}

unioned as (

    select * from header_records
    {%- for line_source in line_sources %}
    union all
    select * from {{ line_source.model }}_records
    {%- endfor %}

),

final as (

    select
        source_model,
        record_id,
        customer_id

    from unioned

)

select * from final
