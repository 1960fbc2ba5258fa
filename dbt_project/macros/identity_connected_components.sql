{#-
    Connected components of an undirected graph by iterative minimum-label propagation
    with pointer jumping, run as a loop of SQL statements until no label changes.

    Called from the pre-hook of int_identifier_components_labelled. `edges` is a relation
    with bigint columns node_id and neighbour_node_id; either direction is enough (the
    edges are made symmetric here) unless `symmetric` says both are there already, which
    saves a union over all edges. Nodes without edges are not in the output; the caller
    gives them their own label.

    Each pass, on temporary tables:
      1. propagation:     label(n) = min(label(n), min over neighbours m of label(m))
      2. pointer jumping: label(n) = label(label(n)), with the labels of step 1
      3. convergence:     count the nodes whose label changed in this pass.
    The loop stops on the first pass that changes nothing (a fixed point: every edge
    joins two equal labels, and each component's label is its smallest node id). Plain
    propagation needs as many passes as the longest shortest path in a component (a
    2,000-long chain: 2,000 passes); pointer jumping lets labels hop along the chain
    of labels and converges in about log2 of that.

    There is no fixed guess of the number of passes: `max_iterations` (default: var
    identity_max_iterations) is only a guard, and reaching it without converging fails
    the model loudly instead of publishing half-merged components.

    Results, as temporary tables of the current connection (the model's SQL reads them,
    its post-hook drops them with identity_drop_connected_components):
      <output>              node_id, component_id
      <output>__convergence one row: passes, nodes, edges

    Portability: plain `create temporary table ... as`, `alter table ... rename to` and
    `drop table if exists`, which DuckDB and Postgres accept. Spark has no temporary
    tables; it would need cached temporary views (not implemented).
-#}
{% macro identity_connected_components(edges, output='identity_components', max_iterations=none, symmetric=false) %}
    {%- if not execute -%}
        {{ return('') }}
    {%- endif -%}
    {%- set max_iterations = (max_iterations or var('identity_max_iterations', 100)) | int -%}
    {%- set work_edges = output ~ '__edges' -%}
    {%- set labels = output ~ '__labels' -%}
    {%- set next_labels = output ~ '__next' -%}
    {%- set convergence = output ~ '__convergence' -%}

    {%- for table_name in [work_edges, labels, next_labels, output, convergence] %}
        {% do run_query('drop table if exists ' ~ table_name) %}
    {%- endfor %}

    {% call statement('identity_components_edges') -%}
        create temporary table {{ work_edges }} as
        with directed as (
            select node_id, neighbour_node_id from {{ edges }}
            {%- if not symmetric %}
            union
            select neighbour_node_id as node_id, node_id as neighbour_node_id from {{ edges }}
            {%- endif %}
        )
        select node_id, neighbour_node_id
        from directed
        where node_id <> neighbour_node_id
    {%- endcall %}

    {#- first pass without a previous label: the smallest of a node and its neighbours -#}
    {% call statement('identity_components_init') -%}
        create temporary table {{ labels }} as
        select
            node_id,
            case when min(neighbour_node_id) < node_id then min(neighbour_node_id) else node_id end as label
        from {{ work_edges }}
        group by node_id
    {%- endcall %}

    {%- set state = namespace(converged=false, passes=0) -%}
    {%- for pass in range(1, max_iterations + 1) -%}
        {%- if not state.converged %}
            {% call statement('identity_components_pass') -%}
                create temporary table {{ next_labels }} as
                with

                neighbour_minimum as (
                    select
                        {{ work_edges }}.node_id,
                        min({{ labels }}.label) as label
                    from {{ work_edges }}
                    inner join {{ labels }}
                        on {{ work_edges }}.neighbour_node_id = {{ labels }}.node_id
                    group by {{ work_edges }}.node_id
                ),

                propagated as (
                    select
                        {{ labels }}.node_id,
                        {{ labels }}.label as previous_label,
                        case
                            when neighbour_minimum.label < {{ labels }}.label then neighbour_minimum.label
                            else {{ labels }}.label
                        end as label
                    from {{ labels }}
                    inner join neighbour_minimum
                        on {{ labels }}.node_id = neighbour_minimum.node_id
                ),

                jumped as (
                    select
                        propagated.node_id,
                        propagated.previous_label,
                        case
                            when parents.label < propagated.label then parents.label
                            else propagated.label
                        end as label
                    from propagated
                    inner join propagated as parents
                        on propagated.label = parents.node_id
                )

                select
                    node_id,
                    label,
                    label <> previous_label as is_changed
                from jumped
            {%- endcall %}
            {%- set changed = run_query('select count(*) from ' ~ next_labels ~ ' where is_changed').columns[0].values()[0] | int -%}
            {% do run_query('drop table ' ~ labels) %}
            {% do run_query('alter table ' ~ next_labels ~ ' rename to ' ~ labels) %}
            {%- set state.passes = pass -%}
            {{ log('identity components: pass ' ~ pass ~ ', ' ~ changed ~ ' labels changed', info=false) }}
            {%- if changed == 0 -%}
                {%- set state.converged = true -%}
            {%- endif -%}
        {%- endif -%}
    {%- endfor -%}

    {%- if not state.converged -%}
        {{ exceptions.raise_compiler_error(
            'identity components did not converge in ' ~ max_iterations ~ ' passes (labels still changing). '
            ~ 'This should not happen with pointer jumping on any realistic graph: inspect the edges, '
            ~ 'or raise var identity_max_iterations.'
        ) }}
    {%- endif %}

    {% call statement('identity_components_output') -%}
        create temporary table {{ output }} as
        select node_id, label as component_id
        from {{ labels }}
    {%- endcall %}

    {% call statement('identity_components_convergence') -%}
        create temporary table {{ convergence }} as
        select
            {{ state.passes }} as passes,
            (select count(*) from {{ labels }}) as nodes,
            (select count(*) from {{ work_edges }}) as edges
    {%- endcall %}

    {%- set summary = run_query('select nodes, edges from ' ~ convergence).rows[0] -%}
    {{ log('identity components: converged after ' ~ state.passes ~ ' passes over ' ~ summary[0] ~ ' linked nodes and '
           ~ summary[1] ~ ' directed edges', info=true) }}

    {% do run_query('drop table ' ~ labels) %}
    {% do run_query('drop table ' ~ work_edges) %}
{% endmacro %}


{#- Post-hook companion of identity_connected_components: drop its temporary results. -#}
{% macro identity_drop_connected_components(output='identity_components') %}
    {%- if execute -%}
        {% do run_query('drop table if exists ' ~ output) %}
        {% do run_query('drop table if exists ' ~ output ~ '__convergence') %}
    {%- endif -%}
{% endmacro %}
