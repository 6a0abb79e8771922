"""The second step's budget through the API (NIST SP 800-63B 5.2.2): a client that knows the
password trades ``mfa_token``s for guesses, five per token, from a new address each time. After 100
wrong codes in a row ``POST /api/token/mfa/`` refuses codes from the app, even the right one, until
a recovery code signs in; a second step that passes starts the count again; the person is mailed
once, at the fifth wrong code in a row."""


from tests.api.test_password_reset import CONFIRM, request_link
from tests.two_step import set_up_totp

TOKEN, MFA, ME = "/api/token/", "/api/token/mfa/", "/api/users/me/"
INVALID = {"code": ["Invalid code."]}
REFUSED = {"code": [
    "Too many wrong codes were entered for this account. Codes from the authenticator app are refused "
    "until you sign in with a recovery code or a passkey, or reset your password."
]}
WARNING = "Wrong codes were entered for your account"


def mfa_token(client, account, address="192.0.2.1") -> str:
    answer = client.post(TOKEN, json={"email": account.email, "password": account.password},
                         environ_base={"REMOTE_ADDR": address})
    assert answer.status_code == 401, answer.get_json()
    return answer.get_json()["mfa_token"]


class Guesser:
    """A client that knows the password: five wrong app codes per ``mfa_token`` (all one allows),
    each token asked for and spent from a new address."""

    def __init__(self, client, account, clock, secret):
        self.client, self.account = client, account
        right = {clock.code(secret, steps) for steps in (-1, 0, 1)}
        self.wrong = (f"{n:06d}" for n in range(10**6) if f"{n:06d}" not in right)
        self.tokens = 0

    def guess(self, count: int) -> None:
        for n in range(count):
            if n % 5 == 0:
                self.tokens += 1
                self.address = f"198.51.100.{self.tokens}"
                self.token = mfa_token(self.client, self.account, self.address)
            answer = self.client.post(MFA, json={"mfa_token": self.token, "code": next(self.wrong)},
                                      environ_base={"REMOTE_ADDR": self.address})
            assert answer.status_code == 400 and answer.get_json() == INVALID


def test_after_100_wrong_codes_from_rotating_addresses_the_right_app_code_is_a_400_until_a_recovery_code(
    app, client, user, clock
):
    secret, codes = set_up_totp(app, user, clock)
    Guesser(client, user, clock, secret).guess(100)
    token = mfa_token(client, user)

    right = client.post(MFA, json={"mfa_token": token, "code": clock.code(secret)})
    assert right.status_code == 400 and right.get_json() == REFUSED and "access" not in right.get_json()

    recovered = client.post(MFA, json={"mfa_token": token, "code": codes[0]})

    assert recovered.status_code == 200
    assert client.get(ME, headers={"Authorization": f"Bearer {recovered.get_json()['access']}"}).status_code == 200
    clock.advance(30)  # the recovery code started the count again: the app's codes work once more
    assert client.post(MFA, json={"mfa_token": mfa_token(client, user), "code": clock.code(secret)}).status_code == 200


def test_past_the_budget_the_two_step_answer_no_longer_offers_the_app(app, client, user, clock):
    secret, _ = set_up_totp(app, user, clock)
    offered = client.post(TOKEN, json={"email": user.email, "password": user.password}).get_json()["methods"]
    Guesser(client, user, clock, secret).guess(100)

    answer = client.post(TOKEN, json={"email": user.email, "password": user.password})

    assert "totp" in offered
    assert answer.status_code == 401 and answer.get_json()["methods"] == ["recovery"]


def test_a_right_app_code_starts_the_count_again(app, client, user, clock):
    secret, _ = set_up_totp(app, user, clock)
    guesser = Guesser(client, user, clock, secret)
    guesser.guess(99)
    assert client.post(MFA, json={"mfa_token": mfa_token(client, user), "code": clock.code(secret)}).status_code == 200
    clock.advance(30)

    guesser.guess(99)  # without the new start, the 100th would have been the last compared

    done = client.post(MFA, json={"mfa_token": mfa_token(client, user), "code": clock.code(secret)})
    assert done.status_code == 200 and set(done.get_json()) == {"access", "refresh"}


def test_the_person_is_mailed_once_at_the_fifth_wrong_code_in_a_row(app, client, user, clock, mailbox):
    secret, _ = set_up_totp(app, user, clock)
    guesser = Guesser(client, user, clock, secret)

    guesser.guess(4)
    assert WARNING not in [m["Subject"] for m in mailbox.sent_to(user.email)]
    guesser.guess(1)
    assert [m["Subject"] for m in mailbox.sent_to(user.email)].count(WARNING) == 1
    guesser.guess(20)

    assert [m["Subject"] for m in mailbox.sent_to(user.email)].count(WARNING) == 1


def test_a_password_reset_starts_the_count_again(app, client, user, clock, mailbox):
    secret, _ = set_up_totp(app, user, clock)
    Guesser(client, user, clock, secret).guess(100)
    refused = client.post(MFA, json={"mfa_token": mfa_token(client, user), "code": clock.code(secret)})
    assert refused.get_json() == REFUSED
    uid, reset_token = request_link(client, mailbox, user.email)
    new_password = "Another-Quiet-Harbour-47"
    confirmed = client.post(CONFIRM, json={"uid": uid, "token": reset_token, "new_password": new_password})
    assert confirmed.status_code == 204

    token = client.post(TOKEN, json={"email": user.email, "password": new_password}).get_json()["mfa_token"]

    assert client.post(MFA, json={"mfa_token": token, "code": clock.code(secret)}).status_code == 200


def test_the_warning_is_written_in_the_persons_language(app, client, make_user, clock, mailbox):
    person = make_user("persian@example.com", language="fa")
    secret, _ = set_up_totp(app, person, clock)

    Guesser(client, person, clock, secret).guess(5)

    [warning] = [m for m in mailbox.sent_to(person.email) if m["Subject"] == "کدهای نادرستی برای حساب شما وارد شده است"]
    body = warning.get_body(("plain",)).get_content()
    assert "۵ کد نادرست پشت سر هم در مرحلهٔ دوم ورود به حساب شما وارد شد" in body
    assert "پس از ۱۰۰ کد نادرست پشت سر هم" in body
