"""Mail: the durable outbox every mail is written to, as facts, in the transaction of the change; the
courier that delivers it; and the handing of a written message to the mail server. (The words of
each mail are the app's: ``portal.mails``.)"""
