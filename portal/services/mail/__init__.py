"""Mail: the outbox every mail is written to, as facts, the courier that delivers it, and the SMTP hand-over."""
