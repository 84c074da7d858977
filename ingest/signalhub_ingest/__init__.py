"""Ingest: quarterly batch files, the single-record form and the API."""
