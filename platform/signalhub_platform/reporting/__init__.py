"""Periodic reports built from the data.

The quarterly collection report (每季度通报), the liaison scorecard and the annual risk report.
"""
