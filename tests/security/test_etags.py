"""Issue 9, "Optimistic concurrency": every profile representation of every dialect carries the
row's version as its ETag; If-None-Match answers 304; a stale If-Match answers 412 and changes
nothing; a current one, ``*``, or none at all lets the write go ahead as the documents describe."""

import pytest

from ..conftest import PASSWORD, image_bytes, stored_avatars, stored_user
from .conftest import audit_actions, multipart_body, table_counts

# (method, path) of every answer that carries a profile; {id} is the caller's own id.
REPRESENTATIONS = [
    ("GET", "/api/profile/"),
    ("POST", "/api/profile/"),
    ("GET", "/api/users/{id}/"),
    ("PUT", "/api/users/{id}/"),
    ("PATCH", "/api/users/{id}/"),
    ("GET", "/api/users/me/"),
    ("PUT", "/api/users/me/"),
    ("PATCH", "/api/users/me/"),
    ("GET", "/api/v1/accounts/users/{id}/"),
    ("PATCH", "/api/v1/accounts/users/{id}/"),
]
READS = [(method, path) for method, path in REPRESENTATIONS if method == "GET"]

# (method, path, JSON body, status on success) of every conditional write.
WRITES = [
    ("PUT", "/api/users/{id}/", {"first_name": "Written"}, 200),
    ("PATCH", "/api/users/{id}/", {"first_name": "Written"}, 200),
    ("PUT", "/api/users/me/", {"first_name": "Written"}, 200),
    ("PATCH", "/api/users/me/", {"first_name": "Written"}, 200),
    ("PATCH", "/api/v1/accounts/users/{id}/", {"first_name": "Written"}, 200),
    ("DELETE", "/api/users/{id}/", None, 204),
    ("DELETE", "/api/users/me/", {"current_password": PASSWORD}, 204),
]
WRITE_IDS = [f"{method} {path}" for method, path, _, _ in WRITES]


def ids(pairs):
    return [f"{method} {path}" for method, path in pairs]


@pytest.fixture(params=["bearer", "token"])
def auth(request, user, bearer, token_auth):
    """Headers of the user's credential, in each scheme. Obtained before any ETag is read: a
    sign-in bumps the version (last_login is part of the row)."""
    return bearer(user) if request.param == "bearer" else token_auth(user)


def etag_of(client, user, auth) -> str:
    response = client.get("/api/users/me/", headers=auth)
    assert response.status_code == 200
    return response.headers["ETag"]


def send(client, method, path, user, headers, body=None):
    return client.open(path.format(id=user.id), method=method, headers=headers, json=body)


def make_stale(client, user, auth) -> str:
    """An ETag read before someone else's change: the row has moved on since."""
    stale = etag_of(client, user, auth)
    changed = client.patch("/api/users/me/", headers=auth, json={"last_name": "Elsewhere"})
    assert changed.status_code == 200 and changed.headers["ETag"] != stale
    return stale


# Every representation carries the version --------------------------------------------------


@pytest.mark.parametrize("method, path", REPRESENTATIONS, ids=ids(REPRESENTATIONS))
def test_every_profile_representation_carries_the_rows_version_as_a_strong_etag(app, client, user, auth, method, path):
    body = {"first_name": "Tagged"} if method in ("PUT", "PATCH") else None

    response = send(client, method, path, user, auth, body)

    assert response.status_code == 200
    assert response.headers.get("ETag") == f'"{stored_user(app, user.id)["version"]}"'


STAFF_ROUTES = [
    ("GET", "/api/users/{id}/"),
    ("GET", "/api/v1/accounts/users/{id}/"),
    ("PATCH", "/api/v1/accounts/users/{id}/"),
]


@pytest.mark.parametrize("method, path", STAFF_ROUTES, ids=ids(STAFF_ROUTES))
def test_staff_reading_or_writing_someone_elses_profile_get_that_rows_etag(
    app, client, make_user, bearer, method, path
):
    staff = make_user("staff@example.com", staff=True)
    member = make_user("member@example.com")
    headers = bearer(staff)

    response = send(client, method, path, member, headers, {"first_name": "Staffed"} if method != "GET" else None)

    assert response.status_code == 200
    assert response.headers.get("ETag") == f'"{stored_user(app, member.id)["version"]}"'


def test_a_change_gives_a_new_etag_in_every_dialect(app, client, user, auth):
    before = {path: send(client, "GET", path, user, auth).headers["ETag"] for _, path in READS}
    assert len(set(before.values())) == 1, before

    client.patch("/api/users/me/", headers=auth, json={"first_name": "Changed"})

    after = {path: send(client, "GET", path, user, auth).headers["ETag"] for _, path in READS}
    assert len(set(after.values())) == 1 and set(after.values()) != set(before.values()), (before, after)


# If-None-Match --------------------------------------------------------------------------------


@pytest.mark.parametrize("method, path", READS, ids=ids(READS))
def test_a_get_whose_if_none_match_names_the_current_etag_is_304_without_a_body(client, user, auth, method, path):
    etag = send(client, method, path, user, auth).headers["ETag"]

    response = send(client, method, path, user, {**auth, "If-None-Match": etag})

    assert response.status_code == 304
    assert response.get_data() == b""
    assert response.headers.get("ETag") == etag


@pytest.mark.parametrize("method, path", READS, ids=ids(READS))
def test_a_get_whose_if_none_match_is_stale_gets_the_new_profile(client, user, auth, method, path):
    stale = make_stale(client, user, auth)

    response = send(client, method, path, user, {**auth, "If-None-Match": stale})

    assert response.status_code == 200
    assert response.get_json()["last_name"] == "Elsewhere"
    assert response.headers["ETag"] != stale


@pytest.mark.parametrize("if_none_match", ['""', 'W/""', '"0", ""', ",", "abc"])
def test_an_if_none_match_that_names_no_version_gets_the_profile(client, user, auth, if_none_match):
    response = client.get("/api/users/me/", headers={**auth, "If-None-Match": if_none_match})

    assert response.status_code == 200
    assert response.get_json()["email"] == user.email


def test_if_none_match_never_answers_304_to_a_caller_without_credentials(client, user, auth):
    etag = etag_of(client, user, auth)

    response = client.get("/api/users/me/", headers={"If-None-Match": etag})

    assert response.status_code == 401


# If-Match -------------------------------------------------------------------------------------


@pytest.mark.parametrize("method, path, body, ok", WRITES, ids=WRITE_IDS)
def test_a_stale_if_match_is_412_and_changes_nothing(app, client, user, auth, method, path, body, ok):
    stale = make_stale(client, user, auth)
    row, counts = stored_user(app, user.id), table_counts(app)

    response = send(client, method, path, user, {**auth, "If-Match": stale}, body)

    assert response.status_code == 412
    assert set(response.get_json()) == {"detail"}
    assert stored_user(app, user.id) == row
    assert table_counts(app) == counts


@pytest.mark.parametrize("path, field", [
    ("/api/users/me/", "avatar"), ("/api/users/{id}/", "avatar"), ("/api/v1/accounts/users/{id}/", "photo"),
])
def test_a_stale_if_match_on_an_avatar_upload_is_412_and_leaves_no_file(app, client, user, auth, path, field):
    stale = make_stale(client, user, auth)
    row = stored_user(app, user.id)
    body, content_type = multipart_body([("first_name", "Pictured"), (field, (image_bytes(), "me.jpg", "image/jpeg"))])

    response = client.patch(
        path.format(id=user.id), headers={**auth, "If-Match": stale}, data=body, content_type=content_type
    )

    assert response.status_code == 412
    assert stored_user(app, user.id) == row
    assert stored_avatars(app) == []


def test_a_stale_if_match_on_an_email_change_mails_nothing_and_keeps_the_address(app, client, user, auth, mailbox):
    stale = make_stale(client, user, auth)

    response = client.patch("/api/users/me/", headers={**auth, "If-Match": stale}, json={"email": "new@example.com"})

    assert response.status_code == 412
    assert stored_user(app, user.id)["email"] == user.email
    assert mailbox.messages == []


@pytest.mark.parametrize(
    "if_match", ['"abc"', '"0"', '"99999999999999999999"', 'W/"x"', "abc", ",", '""', 'W/""', '"0", ""']
)
def test_an_if_match_that_names_no_version_of_the_row_is_412(app, client, user, auth, if_match):
    row = stored_user(app, user.id)

    response = client.patch("/api/users/me/", headers={**auth, "If-Match": if_match}, json={"first_name": "Guess"})

    assert response.status_code == 412
    assert stored_user(app, user.id) == row


@pytest.mark.parametrize("method, path, body, ok", WRITES, ids=WRITE_IDS)
def test_a_current_if_match_lets_the_write_go_ahead(app, client, user, auth, method, path, body, ok):
    etag = etag_of(client, user, auth)
    version = stored_user(app, user.id)["version"]

    response = send(client, method, path, user, {**auth, "If-Match": etag}, body)

    assert response.status_code == ok
    if ok == 204:
        assert stored_user(app, user.id) is None
    else:
        assert stored_user(app, user.id)["first_name"] == "Written"
        assert response.headers["ETag"] == f'"{version + 1}"' == f'"{stored_user(app, user.id)["version"]}"'


def test_an_if_match_listing_the_current_etag_among_others_goes_ahead(app, client, user, auth):
    etag = etag_of(client, user, auth)

    response = client.patch("/api/users/me/", headers={**auth, "If-Match": f'"1", {etag}'},
                            json={"first_name": "Listed"})

    assert response.status_code == 200
    assert stored_user(app, user.id)["first_name"] == "Listed"


@pytest.mark.parametrize("method, path, body, ok", WRITES, ids=WRITE_IDS)
def test_if_match_star_lets_the_write_go_ahead(app, client, user, auth, method, path, body, ok):
    make_stale(client, user, auth)

    response = send(client, method, path, user, {**auth, "If-Match": "*"}, body)

    assert response.status_code == ok
    if ok == 204:
        assert stored_user(app, user.id) is None
    else:
        assert stored_user(app, user.id)["first_name"] == "Written"


@pytest.mark.parametrize("method, path, body, ok", WRITES, ids=WRITE_IDS)
def test_without_if_match_the_documented_behaviour_stays(app, client, user, auth, method, path, body, ok):
    make_stale(client, user, auth)
    updates = audit_actions(app, "profile_updated")

    response = send(client, method, path, user, auth, body)

    assert response.status_code == ok
    if ok == 204:
        assert stored_user(app, user.id) is None
    else:
        assert stored_user(app, user.id)["first_name"] == "Written"
        assert audit_actions(app, "profile_updated") == updates + 1


def test_a_stale_if_match_on_someone_elses_profile_is_still_403_first(app, client, make_user, bearer):
    """The precondition never tells a stranger anything: permission is checked before the version."""
    owner = make_user("owner@example.com")
    stranger = make_user("stranger@example.com")
    row = stored_user(app, owner.id)

    response = client.patch(f"/api/users/{owner.id}/", headers={**bearer(stranger), "If-Match": '"0"'},
                            json={"first_name": "X"})

    assert response.status_code == 403
    assert stored_user(app, owner.id) == row
