"""Equivalence checks (is this answer the gold?) and metrics (accuracy, intervals, tables)."""
