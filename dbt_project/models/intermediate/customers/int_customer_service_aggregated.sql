with

tickets as (

    select * from {{ ref('stg_service_tickets__tickets') }}

),

records_resolved as (

    select * from {{ ref('int_records_resolved') }}
    where source_model = 'stg_service_tickets__tickets'

),

customer_tickets as (

    select
        records_resolved.customer_id,
        tickets.ticket_id,
        tickets.csat_score,
        tickets.nps_score,
        tickets.is_closed,
        tickets.minutes_to_close,
        tickets.opened_at
    from tickets
    inner join records_resolved
        on tickets.ticket_id = records_resolved.record_id

),

latest_nps as (

    -- the NPS answer of the most recently opened ticket that has one
    select
        customer_id,
        nps_score as latest_nps_score,
        opened_at as latest_nps_at
    from (
        select
            customer_tickets.*,
            row_number() over (
                partition by customer_id
                order by opened_at desc, ticket_id desc
            ) as nps_rank
        from customer_tickets
        where nps_score is not null
    ) as ranked_answers
    where nps_rank = 1

),

aggregated as (

    select
        customer_id,
        count(*) as ticket_count,
        sum(case when is_closed then 0 else 1 end) as open_ticket_count,
        count(csat_score) as csat_response_count,
        avg(cast(csat_score as {{ type_double() }})) as mean_csat_score,
        avg(cast(minutes_to_close as {{ type_double() }})) as mean_minutes_to_close,
        min(opened_at) as first_ticket_at,
        max(opened_at) as last_ticket_at
    from customer_tickets
    group by customer_id

),

final as (

    select
        aggregated.customer_id,
        aggregated.ticket_count,
        aggregated.open_ticket_count,
        aggregated.csat_response_count,
        aggregated.mean_csat_score,
        latest_nps.latest_nps_score,
        latest_nps.latest_nps_at,
        aggregated.mean_minutes_to_close,
        aggregated.first_ticket_at,
        aggregated.last_ticket_at

    from aggregated
    left join latest_nps
        on aggregated.customer_id = latest_nps.customer_id

)

select * from final
