{#-
    One row per distinct identifier (type, normalised value): a dense integer node id
    for the identity graph, when and how often it was seen, and whether it is known junk
    (seed identity_junk_values, or a placeholder made only of zeros and separators).
    Junk values keep their row here, for the report, but never become graph nodes.
-#}

with

identifiers_collected as (

    select * from {{ ref('int_identifiers_collected') }}

),

junk_values as (

    select * from {{ ref('identity_junk_values') }}

),

identifiers_observed as (

    select
        identifier_type,
        identifier_value,
        min(observed_at) as first_seen_at,
        max(observed_at) as last_seen_at,
        count(*) as record_count
    from identifiers_collected
    group by identifier_type, identifier_value

),

junk_matches as (

    select
        identifiers_observed.identifier_type,
        identifiers_observed.identifier_value,
        min(junk_values.reason) as junk_reason
    from identifiers_observed
    inner join junk_values
        on lower(identifiers_observed.identifier_value) = lower(junk_values.identifier_value)
        and (
            junk_values.identifier_type = identifiers_observed.identifier_type
            or junk_values.identifier_type = '*'
        )
    group by identifiers_observed.identifier_type, identifiers_observed.identifier_value

),

flagged as (

    select
        identifiers_observed.identifier_type,
        identifiers_observed.identifier_value,
        identifiers_observed.first_seen_at,
        identifiers_observed.last_seen_at,
        identifiers_observed.record_count,
        coalesce(
            junk_matches.junk_reason,
            case
                when {{ identity_is_zero_placeholder('identifiers_observed.identifier_value') }}
                    then 'placeholder made only of zeros and separators'
            end
        ) as junk_reason
    from identifiers_observed
    left join junk_matches
        on identifiers_observed.identifier_type = junk_matches.identifier_type
        and identifiers_observed.identifier_value = junk_matches.identifier_value

),

final as (

    select
        cast(
            row_number() over (order by identifier_type, identifier_value) as {{ dbt.type_bigint() }}
        ) as node_id,
        identifier_type,
        identifier_value,
        first_seen_at,
        last_seen_at,
        cast(record_count as {{ dbt.type_bigint() }}) as record_count,
        junk_reason is not null as is_junk,
        junk_reason

    from flagged

)

select * from final
