"""One scenario suite, every destination (issue 14, points 1 and 7).

The same scenarios run against DuckDB, PostgreSQL (a throwaway server the suite starts),
sqlalchemy on SQLite and on MariaDB (a throwaway server too), and the filesystem destination with
delta and with iceberg tables, in a local folder and in an S3 bucket (moto's server, started by
the suite, a bucket per test): backfill; incremental runs with updated and new leads, a removed
slug, ``''`` values and a slug whose value changes type; a no-change run; soft and hard reconcile;
the run manifest; a CLI run killed with SIGKILL and resumed; a load that fails and is left pending,
then recovered or discarded; a wrong token. After each, the destination's tables are read back with
its own driver (`tests/warehouse_readers.py`) and compared with the simulator's truth row by row,
values and their Python types alike. Nothing is skipped: without PostgreSQL, MariaDB or moto their
cases fail.
"""
