"""What every push target shares: idempotency keys, the ledger, the concurrent push of rows with
per-row outcomes, row sources and field mapping, and the dlt destination adapter."""
