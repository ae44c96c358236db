"""Member events: ingestion (one or batches), storage for audit, explanation and dry-run."""
