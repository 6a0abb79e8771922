"""Signing in: the first proofs, the second factors and the pending second step, and what watches over them."""
