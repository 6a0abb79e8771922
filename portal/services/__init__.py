"""The business rules. Plain functions that take plain values and the acting user, change rows and
flush; they never commit.

Whoever called them ends the transaction (``portal.transactions``): a request's door commits once
after the view, or rolls back an error answer; a command, a task after the answer or the mail
courier commits its own unit of work. The one exception, a try that must count though the request
is refused, is kept by ``plumbing.attempts.keep_attempts``. Nothing here knows about HTTP: views turn
requests into arguments and domain errors into answers.
"""
