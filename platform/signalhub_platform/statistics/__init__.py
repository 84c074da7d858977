"""Classified statistics (分类统计).

Records, entities with warnings and warnings by level, by street, industry, entity, person,
category, agency or quarter, under the one visibility rule (``services``); the query and answer
schemas (``schemas``); server-side SVG bar charts (``charts``). Quarters, in Python and in SQL, are
``signalhub_platform.models.quarters``, shared with the periodic reports.
"""
