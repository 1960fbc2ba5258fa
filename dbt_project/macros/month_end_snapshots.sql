{#-
    The month-end snapshot spine of the history marts (rfm_history, lifecycle_history): one
    row per month from the month of `first_month_sql` (a scalar SQL expression giving a date
    in the first month) to the as-of date, with `snapshot_month` (its first day) and
    `snapshot_date` (its last day, or the as-of date for the current month). Renders a
    SELECT over a CTE named `as_of` with one column `as_of_date`; up to 600 months.
-#}
{% macro month_end_snapshots(first_month_sql) -%}
    select
        month_starts.snapshot_month,
        cast(
            case
                when {{ dbt.last_day('month_starts.snapshot_month', 'month') }} > as_of.as_of_date
                    then as_of.as_of_date
                else {{ dbt.last_day('month_starts.snapshot_month', 'month') }}
            end as date
        ) as snapshot_date
    from (
        select
            cast(
                {{ dbt.dateadd('month', 'month_numbers.generated_number - 1', first_month_sql) }} as date
            ) as snapshot_month
        from (
            -- up to 600 months (50 years) of history
            {{ dbt.generate_series(600) }}
        ) as month_numbers
    ) as month_starts
    cross join as_of
    where month_starts.snapshot_month <= as_of.as_of_date
{%- endmacro %}
