{#-
    Identity resolution: which staging records carry personal identifiers, and the small
    SQL helpers shared by the identity models (models/intermediate/identity).
-#}

{#-
    The staging models whose records carry identifiers: primary key, the time the record
    was observed, and (identifier type, SQL expression of the normalised value) pairs.
    Open ids are only unique within their platform, so their value is qualified as
    `<platform>:<open_id>`. Order and transaction headers are the graph's records; their
    line models inherit the header's customer (see identity_line_record_sources).
-#}
{% macro identity_record_sources() %}
    {%- set open_id = dbt.concat(["coalesce(platform, 'unknown')", "':'", 'open_id']) -%}
    {{ return([
        {'model': 'stg_shop_orders__orders', 'record_id': 'order_id', 'observed_at': 'ordered_at',
         'identifiers': [['account_id', 'account_id'], ['email', 'email'], ['phone', 'phone'],
                         ['device_id', 'device_id']]},
        {'model': 'stg_pos_transactions__transactions', 'record_id': 'transaction_id', 'observed_at': 'transacted_at',
         'identifiers': [['loyalty_card_number', 'loyalty_card_number'], ['phone', 'phone']]},
        {'model': 'stg_web_events__events', 'record_id': 'event_id', 'observed_at': 'occurred_at',
         'identifiers': [['cookie_id', 'cookie_id'], ['email', 'email']]},
        {'model': 'stg_app_events__events', 'record_id': 'event_id', 'observed_at': 'occurred_at',
         'identifiers': [['device_id', 'device_id'], ['account_id', 'account_id']]},
        {'model': 'stg_email_engagement__events', 'record_id': 'event_id', 'observed_at': 'occurred_at',
         'identifiers': [['email', 'email']]},
        {'model': 'stg_sms_engagement__events', 'record_id': 'event_id', 'observed_at': 'occurred_at',
         'identifiers': [['phone', 'phone']]},
        {'model': 'stg_push_engagement__events', 'record_id': 'event_id', 'observed_at': 'occurred_at',
         'identifiers': [['device_id', 'device_id']]},
        {'model': 'stg_social_interactions__interactions', 'record_id': 'interaction_id',
         'observed_at': 'occurred_at',
         'identifiers': [['open_id', open_id], ['phone', 'phone']]},
        {'model': 'stg_crm_profiles__members', 'record_id': 'member_id', 'observed_at': 'updated_at',
         'identifiers': [['member_id', 'member_id'], ['loyalty_card_number', 'loyalty_card_number'],
                         ['account_id', 'account_id'], ['email', 'email'], ['phone', 'phone']]},
        {'model': 'stg_service_tickets__tickets', 'record_id': 'ticket_id', 'observed_at': 'opened_at',
         'identifiers': [['email', 'email'], ['phone', 'phone']]},
        {'model': 'stg_campaign_touches__touches', 'record_id': 'touch_id', 'observed_at': 'touched_at',
         'identifiers': [['email', 'email'], ['phone', 'phone'], ['device_id', 'device_id'],
                         ['member_id', 'member_id'], ['account_id', 'account_id']]},
    ]) }}
{% endmacro %}


{#-
    Line-grain staging models: each line belongs to the customer of its header record
    (the header's identifiers are the line's identifiers, repeated on every line).
-#}
{% macro identity_line_record_sources() %}
    {{ return([
        {'model': 'stg_shop_orders__order_lines', 'record_id': 'order_line_id',
         'header_model': 'stg_shop_orders__orders', 'header_id': 'order_id'},
        {'model': 'stg_pos_transactions__transaction_lines', 'record_id': 'transaction_line_id',
         'header_model': 'stg_pos_transactions__transactions', 'header_id': 'transaction_id'},
    ]) }}
{% endmacro %}


{#-
    Rank of an identifier type when a customer's anchor identifier is chosen (1 = best):
    identifiers that are issued to one person and rarely shared or recycled come first,
    anonymous browser / device ids last. Configurable with the `identity_anchor_type_priority`
    var (a list of types, best first); unknown types rank after the listed ones.
-#}
{% macro identity_type_priority(column) -%}
    {%- set types = var('identity_anchor_type_priority', [
        'member_id', 'account_id', 'loyalty_card_number', 'email', 'phone', 'open_id', 'device_id', 'cookie_id'
    ]) -%}
    case {{ column }}
        {%- for identifier_type in types %}
        when '{{ identifier_type }}' then {{ loop.index }}
        {%- endfor %}
        else {{ types | length + 1 }}
    end
{%- endmacro %}


{#-
    Pseudonymous customer id of an anchor identifier: 'cus_' followed by 24 hex digits of
    md5(salt | type | value). The salt comes from the C360_IDENTITY_SALT environment
    variable; without it a public development default is used, which makes ids
    reproducible but guessable from a known e-mail: set a secret salt in production.
    The salt only matters when an id is first minted; existing ids are carried forward
    from int_customer_anchors_assigned, so changing the salt never renames customers.
-#}
{% macro identity_customer_id(type_column, value_column) -%}
    {%- set salt = env_var('C360_IDENTITY_SALT', 'c360-development-salt') | replace("'", "''") -%}
    {{ dbt.concat(["'cus_'", 'substr(' ~ dbt.hash(dbt.concat(["'" ~ salt ~ "|'", type_column, "'|'", value_column])) ~ ', 1, 24)']) }}
{%- endmacro %}


{#-
    Well-formed placeholders made only of zeros and separators ('0', '000-000',
    '00000000-0000-0000-0000-000000000000': a reset advertising / device id) are junk
    whatever their type, like Segment's blocked-value pattern `^[0-]*$`.
-#}
{% macro identity_is_zero_placeholder(column) -%}
    (replace(replace(replace(replace(replace({{ column }}, '0', ''), '-', ''), '.', ''), ':', ''), ' ', '') = '')
{%- endmacro %}


{#- Size buckets of the report's distributions ('1', '2', '3-5', ..., '65+') and their order. -#}
{% macro identity_size_bucket(column) -%}
    case
        when {{ column }} <= 2 then {{ dbt.safe_cast(column, dbt.type_string()) }}
        when {{ column }} <= 5 then '3-5'
        when {{ column }} <= 10 then '6-10'
        when {{ column }} <= 20 then '11-20'
        when {{ column }} <= 64 then '21-64'
        when {{ column }} <= 200 then '65-200'
        else '201+'
    end
{%- endmacro %}

{% macro identity_size_bucket_order(column) -%}
    case
        when {{ column }} <= 2 then {{ column }}
        when {{ column }} <= 5 then 3
        when {{ column }} <= 10 then 4
        when {{ column }} <= 20 then 5
        when {{ column }} <= 64 then 6
        when {{ column }} <= 200 then 7
        else 8
    end
{%- endmacro %}
