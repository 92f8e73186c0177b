"""Running the loads from an orchestrator: one tested example per tool, each an optional extra
(README, "Running it from an orchestrator"). Every example calls the same entrypoints the CLI
does (``pipelines.mega_leads.run``, ``pipelines.leads_v1.run``: ``run_source``) for every source
registered in ``pipelines/registry.py``, on the schedules its entry declares, and turns their
``RunResult`` / ``RunFailed`` into the tool's own success and failure.

- ``dagster_defs.py`` (extra ``dagster``): assets calling ``run()`` for both sources, with
  schedules; dagster-dbt's ``@dbt_assets`` for the dbt package downstream of them; and
  dagster-dlt's ``@dlt_assets`` over the thin ``mega`` dlt source.
- ``airflow_dag.py`` (extra ``airflow``): DAGs ``crm_leads`` (hourly) and ``crm_leads_nightly``
  with plain tasks calling ``run()``, then the dbt package (``pipelines.views.build``); why
  not dlt's ``PipelineTasksGroup`` is in its docstring.
- ``prefect_flow.py`` (extra ``prefect``): a flow per source, ``crm_leads_flow`` (both, then
  the dbt package), a retried task, the result as a
  markdown artifact; ``python -m orchestrators.prefect_flow`` serves them on schedules.
- ``cron.md``: crontab and systemd service + timer, where the secrets go, the exit codes.
- ``common.py``: what they share (the registered sources and their names, switches and
  schedules; which failures a retry can fix; the result as JSON and markdown). Imports no
  orchestrator.

Each module says where that tool keeps the secrets and how a failed run shows: always as a
failed task / asset / flow run whose message is the run's one-line reason. Tests:
``tests/orchestrators``, run by ``scripts/test-orchestrators`` (one venv per tool).
"""
