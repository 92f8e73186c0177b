-- MEGA leads, one row per lead ever loaded, renamed to the package's convention; leads deleted
-- at the source are kept, flagged by is_deleted.
{{ config(enabled='mega' in var('crm_leads_sources')) }}

select
    cast(id as {{ dbt.type_string() }}) as lead_id,
    customer_id as account_id,
    contact_name,
    contact_email,
    contact_phone,
    source_platform as acquisition_source,
    source_type as acquisition_channel,
    status,
    cast(score as {{ dbt.type_bigint() }}) as score,
    cast(qualified as boolean) as is_qualified,
    current_stage__id as stage_id,
    current_stage__slug as stage,
    current_stage__name as stage_name,
    current_stage__color as stage_color,
    owner__id as owner_id,
    owner__name as owner_name,
    owner__role_name as owner_role,
    last_interaction_at,
    cast(interaction_count as {{ dbt.type_bigint() }}) as interaction_count,
    created_at,
    updated_at,
    _deleted_at as deleted_at,
    _deleted_at is not null as is_deleted
from {{ source('mega', 'leads') }}
