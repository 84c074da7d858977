"""Warnings: the yellow/orange/red engine, linked entities and the supervisors' queue."""
