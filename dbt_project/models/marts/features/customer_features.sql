{#-
    One row per customer of dim_customers: the model features as of the as-of date.
    The `score` snapshot of customer_feature_snapshots, so that the features a model is
    scored on are computed by exactly the SQL its training rows came from.
-#}
with

snapshots as (

    select * from {{ ref('customer_feature_snapshots') }}
    where snapshot_role = 'score'

),

final as (

    select
        customer_id,
        cutoff_date as as_of_date,
        is_buyer,
        first_order_on,
        last_order_on,
        recency_days,
        order_count,
        monetary_total,
        average_order_value,
        tenure_days,
        mean_interpurchase_days,
        interpurchase_cv,
        recency_to_interpurchase_ratio,
        orders_per_year,
        orders_last_90_days,
        orders_last_365_days,
        revenue_last_365_days,
        web_order_share,
        app_order_share,
        marketplace_order_share,
        store_order_share,
        discount_share,
        coupon_order_share,
        return_rate,
        email_open_rate,
        email_click_rate,
        push_open_rate,
        sms_click_rate,
        web_sessions_last_90_days,
        app_sessions_last_90_days,
        product_views_last_30_days,
        cart_abandonment_rate,
        days_since_last_engagement,
        days_since_last_web_session,
        days_since_last_app_session,
        days_since_last_email_open,
        days_since_last_sms_click,
        days_since_last_push_open,
        days_since_last_social_interaction,
        social_interactions_last_365_days,
        ticket_count,
        mean_csat_score,
        is_member,
        favourite_category,
        favourite_category_share,
        distinct_category_count

    from snapshots

)

select * from final
