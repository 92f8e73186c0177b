-- The live leads of both sources in one conformed set of columns: source_system names the
-- API, source_id the lead's id there; lead_key is unique across both.
with mega as (
    select
        'mega' as source_system,
        lead_id as source_id,
        account_id,
        contact_name,
        contact_email,
        contact_phone,
        cast(null as {{ dbt.type_string() }}) as company,
        acquisition_source,
        stage,
        status,
        score,
        created_at,
        updated_at
    from {{ ref('stg_mega__leads') }}
    where not is_deleted
),

leads_v1 as (
    select
        'leads_v1' as source_system,
        lead_id as source_id,
        account_id,
        contact_name,
        contact_email,
        cast(null as {{ dbt.type_string() }}) as contact_phone,
        company,
        acquisition_source,
        stage,
        cast(null as {{ dbt.type_string() }}) as status,
        score,
        created_at,
        updated_at
    from {{ ref('stg_leads_v1__leads') }}
    where not is_deleted
),

unioned as (
    select * from mega
    union all
    select * from leads_v1
)

select source_system || ':' || source_id as lead_key, *
from unioned
