-- Leads v1 leads, one row per lead ever loaded, renamed to the package's convention; leads
-- deleted at the source are kept, flagged by is_deleted.
{{ config(enabled='leads_v1' in var('crm_leads_sources')) }}

select
    cast(id as {{ dbt.type_string() }}) as lead_id,
    organization_id as account_id,
    name as contact_name,
    email as contact_email,
    company,
    industry,
    company_size,
    source as acquisition_source,
    pipeline_stage as stage,
    cast(lead_score as {{ dbt.type_bigint() }}) as score,
    pain_points,
    timeline,
    budget_range,
    ai_reasoning,
    qualification_completed_at,
    created_at,
    updated_at,
    _deleted_at as deleted_at,
    _deleted_at is not null as is_deleted
from {{ source('leads_v1', 'leads') }}
