{#- One typed column per custom-field slug present in `fields` (a relation with lead_id, slug,
    value_type, value, value_number, value_bool), for a `group by` on the lead: the slug's type
    is the kind most of its values have (number: double, boolean: boolean, else text). The
    slugs are read when the model runs, so a new slug becomes a column at the next build. -#}
{% macro custom_field_columns(fields, alias='f') %}
    {%- if not execute -%}{{ return('') }}{%- endif -%}
    {%- set counts = run_query(
        "select slug, value_type, count(*) as n from " ~ fields
        ~ " where value_type <> 'null' group by slug, value_type order by slug, value_type"
    ) -%}
    {%- set kinds = {} -%}
    {%- for row in counts.rows -%}
        {%- if row[0] not in kinds or row[2] > kinds[row[0]][0] -%}
            {%- do kinds.update({row[0]: [row[2], row[1]]}) -%}
        {%- endif -%}
    {%- endfor -%}
    {%- set typed = {'number': 'value_number', 'boolean': 'value_bool'} -%}
    {%- set taken = ['lead_id'] -%}
    {%- for slug in kinds | sort %}
        {%- set ns = namespace(name=modules.re.sub('[^a-z0-9_]+', '_', slug | lower).strip('_') or 'field') -%}
        {%- for _ in taken if ns.name in taken -%}
            {%- set ns.name = ns.name ~ '_' -%}
        {%- endfor -%}
        {%- set name = ns.name -%}
        {%- do taken.append(name) -%}
        {%- set value = typed.get(kinds[slug][1], 'value') -%}
        {#- PostgreSQL has no max() over booleans; bool_or (DuckDB has it too) is the same here. -#}
        {%- set aggregate = 'bool_or' if value == 'value_bool' else 'max' %},
    {{ aggregate }}(case when {{ alias }}.slug = '{{ slug | replace("'", "''") }}' then {{ alias }}.{{ value }} end) as {{ adapter.quote(name) }}
    {%- endfor %}
{%- endmacro %}
