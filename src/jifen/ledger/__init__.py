"""The double-entry points ledger: assets, accounts, transactions, lots, holds, the hash chain."""
