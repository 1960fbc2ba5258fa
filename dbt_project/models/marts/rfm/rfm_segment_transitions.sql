{#-
    Month-to-month migration between RFM segments: for each pair of consecutive
    snapshots in rfm_history, how many customers moved from each segment to each
    segment, and that count as a share of the from-segment (a row-normalised
    transition matrix). Only customers present in both snapshots are counted;
    customers whose first order falls between the two snapshots enter the history
    without a from-segment and are not transitions.
-#}
with

rfm_history as (

    select * from {{ ref('rfm_history') }}

),

group_rules as (

    select * from {{ ref('rfm_group_rules') }}

),

transitions as (

    {{ snapshot_transitions('rfm_history', 'rfm_segment', 'from_rfm_segment', 'to_rfm_segment') }}

),

final as (

    select
        {{ dbt.hash(dbt.concat([
            dbt.safe_cast('transitions.from_snapshot_date', dbt.type_string()),
            "'|'",
            'transitions.from_rfm_segment',
            "'|'",
            'transitions.to_rfm_segment',
        ])) }} as rfm_segment_transition_id,
        transitions.from_snapshot_date,
        transitions.to_snapshot_date,
        transitions.from_rfm_segment,
        transitions.to_rfm_segment,
        from_groups.rfm_group as from_rfm_group,
        to_groups.rfm_group as to_rfm_group,
        transitions.from_rfm_segment = transitions.to_rfm_segment as is_same_segment,
        cast(transitions.customer_count as {{ dbt.type_int() }}) as customer_count,
        cast(transitions.customer_count as {{ type_double() }}) / sum(transitions.customer_count) over (
            partition by transitions.from_snapshot_date, transitions.from_rfm_segment
        ) as share_of_from_segment

    from transitions
    left join group_rules as from_groups
        on transitions.from_rfm_segment = from_groups.rfm_segment
    left join group_rules as to_groups
        on transitions.to_rfm_segment = to_groups.rfm_segment

)

select * from final
