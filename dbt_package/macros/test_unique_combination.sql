{#- No row shares these columns' values with another (dbt_utils has one; this package needs no
    hub package, so `dbt deps` is not needed to use it). -#}
{% test unique_combination(model, columns) %}
select {{ columns | join(', ') }}, count(*) as rows_sharing
from {{ model }}
group by {{ columns | join(', ') }}
having count(*) > 1
{% endtest %}
