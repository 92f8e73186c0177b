-- The live leads of both sources in one conformed set of columns: source_system names the
-- API, source_id the lead's id there; lead_key is unique across both. A column one API has
-- not is NULL for the other's leads. Only the sources in the variable crm_leads_sources.
{%- set sources = var('crm_leads_sources') %}
{%- set text = dbt.type_string() %}

with
{%- if 'mega' in sources %}
mega as (
    select
        'mega' as source_system,
        lead_id as source_id,
        account_id,
        contact_name,
        contact_email,
        contact_phone,
        cast(null as {{ text }}) as company,
        acquisition_source,
        stage,
        status,
        score,
        created_at,
        updated_at
    from {{ ref('stg_mega__leads') }}
    where not is_deleted
),
{%- endif %}
{%- if 'leads_v1' in sources %}
leads_v1 as (
    select
        'leads_v1' as source_system,
        lead_id as source_id,
        account_id,
        contact_name,
        contact_email,
        cast(null as {{ text }}) as contact_phone,
        company,
        acquisition_source,
        stage,
        cast(null as {{ text }}) as status,
        score,
        created_at,
        updated_at
    from {{ ref('stg_leads_v1__leads') }}
    where not is_deleted
),
{%- endif %}

unioned as (
    {%- for source in sources %}
    select * from {{ source }}
    {%- if not loop.last %}
    union all
    {%- endif %}
    {%- endfor %}
)

select source_system || ':' || source_id as lead_key, *
from unioned
