"""Mail: the durable outbox every message is written to in the transaction of the change, the
courier that delivers it, and the composing of one message."""
