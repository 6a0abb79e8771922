"""What a signed-in person or client holds (sessions, JWT pairs, API keys), and the rule for a usable one."""
