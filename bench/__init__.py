"""Benchmarks that print figures (``make bench``); targets live here, not in unit tests."""
