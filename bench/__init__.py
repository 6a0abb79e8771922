"""Benchmarks for the account portal: ``make bench`` (``python -m bench``) prints the figures."""
