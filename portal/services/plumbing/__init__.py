"""Plumbing the rules stand on: conditional updates, work after commit, bounded background work,
encrypted secrets, and reads sent straight to the database driver."""
