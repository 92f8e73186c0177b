"""Push targets ("reverse ETL"): leads created or updated in a CRM, exactly once in effect.

Each target is a dlt destination usable from any pipeline, configured under
``[destination.<name>]``: ``mega`` (MEGA create, seed 000), ``apollo`` (Apollo Space create,
002), ``leads_v1`` (Leads v1 create + PATCH, 004). ``pipelines/push.py`` pushes rows from a
DuckDB table, a query or a CSV/JSONL file. The shared parts are in ``push_targets/core``.
"""
