"""Signing in: the first proofs (a password, an emailed code, a passkey), the second factors, the
pending second step, and what watches over them (lockouts, alerts, known devices, re-authentication,
securing an account someone else got into)."""
