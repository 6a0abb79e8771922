"""The business rules: plain functions that take plain values and the acting user, change rows and
flush; whoever called them commits (``portal.transactions``), but for the tries that must count
though the request is refused (``plumbing.attempts``). Nothing here knows about HTTP.
"""
