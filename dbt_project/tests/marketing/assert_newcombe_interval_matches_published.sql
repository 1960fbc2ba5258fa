{#-
    The lift interval macro against the worked examples of Newcombe (1998), "Interval
    estimation for the difference between independent proportions", Statistics in
    Medicine 17: 873-890, Table II, method 10 (hybrid score), 95 %:
      56/70 - 48/80   →  0.0524 to 0.3339
       9/10 -  3/10   →  0.1705 to 0.8090
       6/7  -  2/7    →  0.0582 to 0.8062
       5/56 -  0/29   → -0.0381 to 0.1926
       0/10 -  0/20   → -0.1611 to 0.2775
      10/10 -  0/20   →  0.6791 to 1.0000
    Returns the examples the macro misses by more than 0.0005 (published values have 4
    decimals; z = 1.96 instead of 1.959964 moves the 4th decimal at most by 1).
    Attached to campaign_performance, whose lift_ci_lower / lift_ci_upper use the macro.
-#}
-- depends_on: {{ ref('campaign_performance') }}

with

published as (

    select 56 as x1, 70 as n1, 48 as x2, 80 as n2, 0.0524 as lower_bound, 0.3339 as upper_bound
    union all select 9, 10, 3, 10, 0.1705, 0.8090
    union all select 6, 7, 2, 7, 0.0582, 0.8062
    union all select 5, 56, 0, 29, -0.0381, 0.1926
    union all select 0, 10, 0, 20, -0.1611, 0.2775
    union all select 10, 10, 0, 20, 0.6791, 1.0000

),

computed as (

    select
        published.*,
        {{ newcombe_difference_bound('x1', 'n1', 'x2', 'n2', 1.96, 'lower') }} as computed_lower,
        {{ newcombe_difference_bound('x1', 'n1', 'x2', 'n2', 1.96, 'upper') }} as computed_upper
    from published

)

select *
from computed
where abs(computed_lower - lower_bound) > 0.0005
    or abs(computed_upper - upper_bound) > 0.0005
    or computed_lower is null
    or computed_upper is null
