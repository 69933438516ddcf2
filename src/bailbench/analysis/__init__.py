"""Rates, intervals and summaries computed from stored samples (pure functions)."""
