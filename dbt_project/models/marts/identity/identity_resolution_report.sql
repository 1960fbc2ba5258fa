{#-
    Quality report of identity resolution, in long form (one metric per row) so that a
    single table holds every section:
    - summary:              totals, passes to converge, largest and supersized customers;
    - customer_identifiers: customers by number of identifiers (size distribution);
    - customer_records:     customers by number of header records;
    - guarded_identifier:   every guarded value with its reason and what became of it;
    - unlinked_records:     per staging model, records no customer could be told from.
    Restricted: the guarded_identifier rows show identifier values.
-#}
{%- set supersized_records = var('identity_supersized_records', 64) | int -%}

with

records_clustered as (

    select * from {{ ref('int_records_clustered') }}

),

identifiers_clustered as (

    select * from {{ ref('int_identifiers_clustered') }}

),

identifiers_guarded as (

    select * from {{ ref('int_identifiers_guarded') }}

),

components_labelled as (

    select * from {{ ref('int_identifier_components_labelled') }}

),

edges_filtered as (

    select * from {{ ref('int_identifier_edges_filtered') }}

),

customer_anchors as (

    select * from {{ ref('int_customer_anchors_assigned') }}

),

identified_clusters as (

    select distinct cluster_id
    from identifiers_clustered
    where cluster_id is not null
        and identifier_type in (
            {%- for identifier_type in var('identity_personal_identifier_types') %}
            '{{ identifier_type }}'{{ ',' if not loop.last }}
            {%- endfor %}
        )

),

customer_identifier_counts as (

    select
        cluster_id,
        count(*) as identifier_count
    from identifiers_clustered
    where cluster_id is not null
    group by cluster_id

),

customer_record_counts as (

    select
        cluster_id,
        count(*) as record_count
    from records_clustered
    where cluster_id is not null
    group by cluster_id

),

summary_metrics as (

    select 'records_with_identifiers' as metric_name, count(*) as metric_value, 1 as sort_order
    from records_clustered
    union all
    select 'records_resolved', sum(case when cluster_id is not null then 1 else 0 end), 2
    from records_clustered
    union all
    select 'records_unresolved', sum(case when cluster_id is null then 1 else 0 end), 3
    from records_clustered
    union all
    select 'identifiers', count(*), 4
    from identifiers_clustered
    union all
    select 'identifiers_linked', sum(case when resolution = 'linked' then 1 else 0 end), 5
    from identifiers_clustered
    union all
    select 'identifiers_attached', sum(case when resolution = 'attached' then 1 else 0 end), 6
    from identifiers_clustered
    union all
    select 'identifiers_ambiguous', sum(case when resolution = 'ambiguous' then 1 else 0 end), 7
    from identifiers_clustered
    union all
    select 'identifiers_junk', sum(case when resolution = 'junk' then 1 else 0 end), 8
    from identifiers_clustered
    union all
    select 'graph_edges', count(*) / 2, 9
    from edges_filtered
    union all
    select 'convergence_passes', max(convergence_passes), 10
    from components_labelled
    union all
    select 'customers', sum(case when is_current then 1 else 0 end), 11
    from customer_anchors
    union all
    select 'customer_ids_retired', sum(case when is_current then 0 else 1 end), 12
    from customer_anchors
    union all
    select 'customers_identified', count(*), 16
    from identified_clusters
    union all
    select 'customers_anonymous', count(*) - (select count(*) from identified_clusters), 17
    from customer_identifier_counts
    union all
    select 'largest_customer_identifiers', max(identifier_count), 13
    from customer_identifier_counts
    union all
    select 'largest_customer_records', max(record_count), 14
    from customer_record_counts
    union all
    select 'supersized_customers_over_{{ supersized_records }}_records',
        sum(case when record_count > {{ supersized_records }} then 1 else 0 end), 15
    from customer_record_counts

),

summary_rows as (

    select
        'summary' as report_section,
        'all' as dimension,
        cast(null as {{ dbt.type_string() }}) as detail,
        cast(null as {{ dbt.type_string() }}) as reason,
        metric_name,
        cast(coalesce(metric_value, 0) as {{ type_double() }}) as metric_value,
        sort_order
    from summary_metrics

),

identifier_size_rows as (

    select
        'customer_identifiers' as report_section,
        {{ identity_size_bucket('identifier_count') }} as dimension,
        cast(null as {{ dbt.type_string() }}) as detail,
        cast(null as {{ dbt.type_string() }}) as reason,
        'customers' as metric_name,
        cast(count(*) as {{ type_double() }}) as metric_value,
        min({{ identity_size_bucket_order('identifier_count') }}) as sort_order
    from customer_identifier_counts
    group by {{ identity_size_bucket('identifier_count') }}

),

record_size_rows as (

    select
        'customer_records' as report_section,
        {{ identity_size_bucket('record_count') }} as dimension,
        cast(null as {{ dbt.type_string() }}) as detail,
        cast(null as {{ dbt.type_string() }}) as reason,
        'customers' as metric_name,
        cast(count(*) as {{ type_double() }}) as metric_value,
        min({{ identity_size_bucket_order('record_count') }}) as sort_order
    from customer_record_counts
    group by {{ identity_size_bucket('record_count') }}

),

guarded_rows as (

    select
        'guarded_identifier' as report_section,
        identifiers_guarded.identifier_type as dimension,
        identifiers_guarded.identifier_value as detail,
        {{ dbt.concat([
            'identifiers_guarded.guard_type',
            "': '",
            'identifiers_guarded.reason',
            "coalesce(" ~ dbt.concat([
                "' ('",
                dbt.safe_cast('identifiers_guarded.distinct_neighbours', dbt.type_string()),
                "' distinct '",
                'identifiers_guarded.neighbour_type',
                "', limit '",
                dbt.safe_cast('identifiers_guarded.max_distinct_neighbours', dbt.type_string()),
                "')'",
            ]) ~ ", '')",
            "'; '",
            'identifiers_clustered.resolution',
        ]) }} as reason,
        'records' as metric_name,
        cast(identifiers_guarded.record_count as {{ type_double() }}) as metric_value,
        cast(
            row_number() over (
                order by identifiers_guarded.record_count desc, identifiers_guarded.identifier_type,
                    identifiers_guarded.identifier_value
            ) as {{ dbt.type_int() }}
        ) as sort_order
    from identifiers_guarded
    inner join identifiers_clustered
        on identifiers_guarded.node_id = identifiers_clustered.node_id

),

unlinked_counts as (

    select
        source_model,
        match_status,
        count(*) as record_count,
        sum(count(*)) over (partition by source_model) as source_record_count
    from records_clustered
    group by source_model, match_status

),

unlinked_rows as (

    select
        'unlinked_records' as report_section,
        source_model as dimension,
        match_status as detail,
        cast(null as {{ dbt.type_string() }}) as reason,
        'records' as metric_name,
        cast(record_count as {{ type_double() }}) as metric_value,
        case match_status when 'ambiguous_only' then 1 else 2 end as sort_order
    from unlinked_counts
    where match_status in ('ambiguous_only', 'junk_only')

    union all

    select
        'unlinked_records' as report_section,
        source_model as dimension,
        'all' as detail,
        cast(null as {{ dbt.type_string() }}) as reason,
        'share_unlinked' as metric_name,
        cast(
            sum(case when match_status in ('ambiguous_only', 'junk_only') then record_count else 0 end)
            as {{ type_double() }}
        ) / max(source_record_count) as metric_value,
        0 as sort_order
    from unlinked_counts
    group by source_model

),

unioned as (

    select * from summary_rows
    union all
    select * from identifier_size_rows
    union all
    select * from record_size_rows
    union all
    select * from guarded_rows
    union all
    select * from unlinked_rows

),

final as (

    select
        cast(report_section as {{ dbt.type_string() }}) as report_section,
        cast(dimension as {{ dbt.type_string() }}) as dimension,
        cast(detail as {{ dbt.type_string() }}) as detail,
        cast(reason as {{ dbt.type_string() }}) as reason,
        cast(metric_name as {{ dbt.type_string() }}) as metric_name,
        cast(metric_value as {{ type_double() }}) as metric_value,
        cast(sort_order as {{ dbt.type_int() }}) as sort_order

    from unioned

)

select * from final
