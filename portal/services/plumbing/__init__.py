"""What the rules stand on: conditional updates, work after commit, background work, secrets, driver reads."""
