"""``/v1/vector_stores``: stores, their files and file batches, search, ingestion."""
