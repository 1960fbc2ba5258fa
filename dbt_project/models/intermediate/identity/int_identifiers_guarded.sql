{#-
    Every identifier value that must not link records, with the reason:
    - junk_value: a known placeholder (seed identity_junk_values) or a value made only of
      zeros and separators; it is dropped from the graph altogether;
    - shared_contact: one campaign targeted the value more than
      var identity_max_touches_per_campaign times (default 1): the campaign tool holds
      it for several contacts, e.g. a household mailbox whose second user left no other
      trace. Direct evidence of sharing, so the value is never attached to anyone;
    - cardinality_limit: the value co-occurs on records with more distinct identifiers of
      some type than seed identity_guard_limits allows (neighbour_type '*' counts all
      types), or with more of them at the same time (max_concurrent_neighbours: the
      co-occurrence periods of that many neighbours overlap; a person switches phones,
      a household uses two at once). A household mailbox on several memberships, a store
      tablet with hundreds of accounts, a shared computer's cookie. It stays a graph node
      but links nothing; int_identifiers_clustered attaches it to a customer only when
      all its linking neighbours agree on one.
    - unlinked_profiles: the value co-occurs with two identifiers of types that one
      person's records always link directly (var identity_expected_links, default a shop
      account with a loyalty membership, the CRM profile storing the member's account, and
      a shop account with a phone, asked at checkout), but
      those two are never seen together: two people's profiles share the value. Like a
      cardinality limit, the value is still attached when its neighbours agree on one
      customer.
    One row per value; when several guards apply, junk_value wins over shared_contact
    over unlinked_profiles over cardinality_limit, and among limits the worst breach
    (count / limit) is shown.
-#}
{%- set max_touches_per_campaign = var('identity_max_touches_per_campaign', 1) | int %}
{%- set expected_links = var('identity_expected_links', [['account_id', 'member_id'], ['account_id', 'phone']]) %}

with

identifiers_indexed as (

    select * from {{ ref('int_identifiers_indexed') }}

),

links_observed as (

    select * from {{ ref('int_identifier_links_observed') }}

),

guard_limits as (

    select * from {{ ref('identity_guard_limits') }}

),

campaign_touches as (

    select * from {{ ref('stg_campaign_touches__touches') }}

),

touched_identifiers as (

    {%- for identifier_type in ['email', 'phone', 'device_id'] %}

    select
        '{{ identifier_type }}' as identifier_type,
        {{ identifier_type }} as identifier_value,
        campaign_id,
        touch_id
    from campaign_touches
    where {{ identifier_type }} is not null
    {%- if not loop.last %}

    union all
    {%- endif %}
    {%- endfor %}

),

campaign_touch_counts as (

    select
        identifier_type,
        identifier_value,
        max(touch_count) as max_touches_per_campaign
    from (
        select
            identifier_type,
            identifier_value,
            campaign_id,
            count(distinct touch_id) as touch_count
        from touched_identifiers
        group by identifier_type, identifier_value, campaign_id
    ) as per_campaign
    group by identifier_type, identifier_value
    having max(touch_count) > {{ max_touches_per_campaign }}

),

unlinked_profile_pairs as (

    {%- for expected_link in expected_links %}

    select
        first_links.node_id,
        count(*) as unlinked_pairs
    from links_observed as first_links
    inner join links_observed as second_links
        on first_links.node_id = second_links.node_id
    left join links_observed as direct_links
        on first_links.neighbour_node_id = direct_links.node_id
        and second_links.neighbour_node_id = direct_links.neighbour_node_id
    where first_links.neighbour_type = '{{ expected_link[0] }}'
        and second_links.neighbour_type = '{{ expected_link[1] }}'
        and first_links.identifier_type not in ('{{ expected_link[0] }}', '{{ expected_link[1] }}')
        and direct_links.node_id is null
    group by first_links.node_id
    {%- if not loop.last %}

    union all
    {%- endif %}
    {%- endfor %}
    {%- if not expected_links %}

    select
        cast(null as {{ dbt.type_bigint() }}) as node_id,
        cast(null as {{ dbt.type_bigint() }}) as unlinked_pairs
    where 1 = 0
    {%- endif %}

),

{#-
    Limits are checked in two passes. Pass 1 counts every neighbour; pass 2 counts only
    neighbours that pass 1 did not guard, so a person's e-mail is not guarded just because
    it was used on a store tablet (itself guarded, with hundreds of accounts). Only pass-2
    breaches guard a value.

    Concurrency: each (value, neighbour) pair is active from its first to its last
    co-occurrence; a sweep over the start (+1) and end (-1) points, starts first on ties,
    gives the largest number of neighbours of one type active at the same time.
#}
{%- for pass_name, links_relation in [('first_pass', 'links_observed'), ('second_pass', 'second_pass_links')] %}

{{ pass_name }}_interval_points as (

    select node_id, neighbour_type, first_seen_at as point_at, 1 as delta
    from {{ links_relation }}

    union all

    select node_id, neighbour_type, last_seen_at as point_at, -1 as delta
    from {{ links_relation }}

),

{{ pass_name }}_concurrency as (

    select
        node_id,
        neighbour_type,
        max(active_neighbours) as concurrent_neighbours
    from (
        select
            node_id,
            neighbour_type,
            sum(delta) over (
                partition by node_id, neighbour_type
                order by point_at, delta desc
                rows between unbounded preceding and current row
            ) as active_neighbours
        from {{ pass_name }}_interval_points
    ) as sweep
    group by node_id, neighbour_type

),

{{ pass_name }}_neighbour_counts as (

    select
        per_type.node_id,
        per_type.identifier_type,
        per_type.neighbour_type,
        per_type.distinct_neighbours,
        {{ pass_name }}_concurrency.concurrent_neighbours
    from (
        select
            node_id,
            identifier_type,
            neighbour_type,
            count(*) as distinct_neighbours
        from {{ links_relation }}
        group by node_id, identifier_type, neighbour_type
    ) as per_type
    inner join {{ pass_name }}_concurrency
        on per_type.node_id = {{ pass_name }}_concurrency.node_id
        and per_type.neighbour_type = {{ pass_name }}_concurrency.neighbour_type

    union all

    select
        node_id,
        identifier_type,
        '*' as neighbour_type,
        count(*) as distinct_neighbours,
        cast(null as {{ dbt.type_bigint() }}) as concurrent_neighbours
    from {{ links_relation }}
    group by node_id, identifier_type

),

{{ pass_name }}_breaches as (

    select
        counts.node_id,
        counts.neighbour_type,
        counts.distinct_neighbours,
        guard_limits.max_distinct_neighbours,
        counts.concurrent_neighbours,
        guard_limits.max_concurrent_neighbours,
        guard_limits.reason,
        row_number() over (
            partition by counts.node_id
            order by
                greatest(
                    coalesce(
                        cast(counts.distinct_neighbours as {{ type_double() }})
                        / nullif(guard_limits.max_distinct_neighbours, 0),
                        0
                    ),
                    coalesce(
                        cast(counts.concurrent_neighbours as {{ type_double() }})
                        / nullif(guard_limits.max_concurrent_neighbours, 0),
                        0
                    )
                ) desc,
                counts.neighbour_type
        ) as breach_rank,
        count(*) over (partition by counts.node_id) as breach_count
    from {{ pass_name }}_neighbour_counts as counts
    inner join guard_limits
        on counts.identifier_type = guard_limits.identifier_type
        and counts.neighbour_type = guard_limits.neighbour_type
    where counts.distinct_neighbours > guard_limits.max_distinct_neighbours
        or counts.concurrent_neighbours > guard_limits.max_concurrent_neighbours

),
{%- if pass_name == 'first_pass' %}

second_pass_links as (

    select links_observed.*
    from links_observed
    left join (select distinct node_id from first_pass_breaches) as guarded_neighbours
        on links_observed.neighbour_node_id = guarded_neighbours.node_id
    where guarded_neighbours.node_id is null

),
{%- endif %}
{%- endfor %}

junk_guards as (

    select
        node_id,
        identifier_type,
        identifier_value,
        'junk_value' as guard_type,
        junk_reason as reason,
        cast(null as {{ dbt.type_string() }}) as neighbour_type,
        cast(null as {{ dbt.type_bigint() }}) as distinct_neighbours,
        cast(null as {{ dbt.type_bigint() }}) as max_distinct_neighbours,
        cast(null as {{ dbt.type_bigint() }}) as concurrent_neighbours,
        cast(null as {{ dbt.type_bigint() }}) as max_concurrent_neighbours,
        cast(0 as {{ dbt.type_bigint() }}) as other_breaches,
        record_count,
        1 as guard_priority
    from identifiers_indexed
    where is_junk

),

shared_contact_guards as (

    select
        identifiers_indexed.node_id,
        identifiers_indexed.identifier_type,
        identifiers_indexed.identifier_value,
        'shared_contact' as guard_type,
        'targeted several times by one campaign: the campaign tool holds it for several contacts' as reason,
        'campaign_touch' as neighbour_type,
        cast(campaign_touch_counts.max_touches_per_campaign as {{ dbt.type_bigint() }}) as distinct_neighbours,
        cast({{ max_touches_per_campaign }} as {{ dbt.type_bigint() }}) as max_distinct_neighbours,
        cast(null as {{ dbt.type_bigint() }}) as concurrent_neighbours,
        cast(null as {{ dbt.type_bigint() }}) as max_concurrent_neighbours,
        cast(0 as {{ dbt.type_bigint() }}) as other_breaches,
        identifiers_indexed.record_count,
        2 as guard_priority
    from campaign_touch_counts
    inner join identifiers_indexed
        on campaign_touch_counts.identifier_type = identifiers_indexed.identifier_type
        and campaign_touch_counts.identifier_value = identifiers_indexed.identifier_value

),

unlinked_profile_guards as (

    select
        identifiers_indexed.node_id,
        identifiers_indexed.identifier_type,
        identifiers_indexed.identifier_value,
        'unlinked_profiles' as guard_type,
        'co-occurs with identifiers of two people that one person would have linked directly '
        || '(var identity_expected_links)' as reason,
        cast(null as {{ dbt.type_string() }}) as neighbour_type,
        cast(sum(unlinked_profile_pairs.unlinked_pairs) as {{ dbt.type_bigint() }}) as distinct_neighbours,
        cast(0 as {{ dbt.type_bigint() }}) as max_distinct_neighbours,
        cast(null as {{ dbt.type_bigint() }}) as concurrent_neighbours,
        cast(null as {{ dbt.type_bigint() }}) as max_concurrent_neighbours,
        cast(0 as {{ dbt.type_bigint() }}) as other_breaches,
        min(identifiers_indexed.record_count) as record_count,
        3 as guard_priority
    from unlinked_profile_pairs
    inner join identifiers_indexed
        on unlinked_profile_pairs.node_id = identifiers_indexed.node_id
    group by identifiers_indexed.node_id, identifiers_indexed.identifier_type, identifiers_indexed.identifier_value

),

cardinality_guards as (

    select
        identifiers_indexed.node_id,
        identifiers_indexed.identifier_type,
        identifiers_indexed.identifier_value,
        'cardinality_limit' as guard_type,
        second_pass_breaches.reason,
        second_pass_breaches.neighbour_type,
        cast(second_pass_breaches.distinct_neighbours as {{ dbt.type_bigint() }}) as distinct_neighbours,
        cast(second_pass_breaches.max_distinct_neighbours as {{ dbt.type_bigint() }}) as max_distinct_neighbours,
        cast(second_pass_breaches.concurrent_neighbours as {{ dbt.type_bigint() }}) as concurrent_neighbours,
        cast(
            second_pass_breaches.max_concurrent_neighbours as {{ dbt.type_bigint() }}
        ) as max_concurrent_neighbours,
        cast(second_pass_breaches.breach_count - 1 as {{ dbt.type_bigint() }}) as other_breaches,
        identifiers_indexed.record_count,
        4 as guard_priority
    from second_pass_breaches
    inner join identifiers_indexed
        on second_pass_breaches.node_id = identifiers_indexed.node_id
    where second_pass_breaches.breach_rank = 1

),

unioned as (

    select * from junk_guards
    union all
    select * from shared_contact_guards
    union all
    select * from unlinked_profile_guards
    union all
    select * from cardinality_guards

),

prioritised as (

    select
        unioned.*,
        row_number() over (partition by node_id order by guard_priority) as guard_rank
    from unioned

),

final as (

    select
        node_id,
        identifier_type,
        identifier_value,
        guard_type,
        reason,
        neighbour_type,
        distinct_neighbours,
        max_distinct_neighbours,
        concurrent_neighbours,
        max_concurrent_neighbours,
        other_breaches,
        record_count

    from prioritised
    where guard_rank = 1

)

select * from final
