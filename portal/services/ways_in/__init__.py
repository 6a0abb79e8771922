"""What a signed-in person or client holds: browser sessions, JWT pairs and API keys, the one rule
for a usable credential, and the read path that names the caller of every API request."""
