-- Live leads per creation day, stage, acquisition source and source system.
select
    cast(created_at as date) as day,
    stage,
    acquisition_source as source,
    source_system,
    count(*) as leads
from {{ ref('current_leads') }}
group by 1, 2, 3, 4
