"""Sharing: searching entities and reading profiles and records, through the one visibility rule."""
