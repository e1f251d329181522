"""Imports: a merchant's history brought into the ledger in chunks, resumable and repeatable.

core.py runs any source (a CSV file, later Shopify's bulk export and Loop's returns list) chunk
by chunk, each chunk stored in one transaction with its checkpoint; ledger_orders.py and
ledger_returns.py store a chunk; csv_file.py, csv_fields.py, csv_orders.py and csv_returns.py
read the documented CSV formats.
"""
