"""The business rules. Plain functions that take plain values and the acting user, and commit once.

Nothing here knows about HTTP: views turn requests into arguments and domain errors into answers.
"""
