"""Classified statistics (分类统计).

Counts by region, industry, agency, category and quarter under the one visibility rule.
"""
