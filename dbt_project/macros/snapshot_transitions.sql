{#-
    Month-to-month moves in a month-end history (rfm_segment_transitions,
    lifecycle_stage_transitions): for each pair of consecutive snapshot dates of
    `history` (a CTE with customer_id, snapshot_date and `state_column`), how many customers
    went from each state to each state, as from_snapshot_date, to_snapshot_date,
    `from_column`, `to_column`, customer_count. Only customers present in both snapshots
    count: one who first appears in the later snapshot has no from-state.
-#}
{% macro snapshot_transitions(history, state_column, from_column, to_column) -%}
    select
        from_history.snapshot_date as from_snapshot_date,
        to_history.snapshot_date as to_snapshot_date,
        from_history.{{ state_column }} as {{ from_column }},
        to_history.{{ state_column }} as {{ to_column }},
        count(*) as customer_count
    from {{ history }} as from_history
    inner join (
        select
            snapshot_date,
            lead(snapshot_date) over (order by snapshot_date) as next_snapshot_date
        from (select distinct snapshot_date from {{ history }}) as snapshot_dates
    ) as snapshots
        on from_history.snapshot_date = snapshots.snapshot_date
    inner join {{ history }} as to_history
        on from_history.customer_id = to_history.customer_id
        and snapshots.next_snapshot_date = to_history.snapshot_date
    group by
        from_history.snapshot_date,
        to_history.snapshot_date,
        from_history.{{ state_column }},
        to_history.{{ state_column }}
{%- endmacro %}
