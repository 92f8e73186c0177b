-- MEGA custom fields, one row per lead and slug, with the value as text and typed.
{{ config(enabled='mega' in var('crm_leads_sources')) }}

select
    lead_id,
    slug,
    value,
    value_type,
    cast(value_number as double precision) as value_number,
    cast(value_bool as boolean) as value_bool
from {{ source('mega', 'leads__custom_fields') }}
