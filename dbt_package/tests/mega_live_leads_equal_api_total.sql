-- After a complete sweep (a run that recorded the API's total), the warehouse holds exactly
-- that many live MEGA leads. Checked when the last successful run was such a sweep: after an
-- incremental run the API's total of an earlier sweep no longer applies.
{{ config(enabled='mega' in var('crm_leads_sources')) }}

with last_run as (
    select api_total
    from {{ source('mega', '_mega_runs') }}
    where outcome = 'success'
    order by finished_at desc
    limit 1
),

live as (
    select count(*) as live_leads
    from {{ ref('stg_mega__leads') }}
    where not is_deleted
)

select last_run.api_total, live.live_leads
from last_run
cross join live
where last_run.api_total is not null
  and last_run.api_total <> live.live_leads
