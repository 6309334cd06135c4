"""Ingest: read article sources, split them into tiered chunks, keep the store in step."""
