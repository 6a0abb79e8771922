"""The registry of an account's fields drives everything that lists them: the profile form (web and
admin), the sign-up form's names, the audit's labels and readings, "download my data", the admin's
CSV and its filters. Each of them shows exactly the registry's fields, in the registry's order, so
a field added to the registry (and its column) appears in all of them with no other edit."""

import csv
import io
import re
from html import unescape

from flask_babel import force_locale

from portal.forms import ProfileForm
from portal.services.audit import field_label
from portal.services.people.fields import (
    ACCOUNT_FIELDS,
    ACCOUNT_FLAGS,
    DATA_ORDER,
    DETAIL_FIELDS,
    FIELDS_BY_NAME,
    FORM_FIELDS,
    KNOWN_BY,
    PROFILE,
    PROFILE_FIELDS,
    STAFF,
    page_language,
)
from portal.templating import change_value, value_options

from .conftest import signed_in

# A form control of a page, its name and its HTML.
CONTROL = re.compile(r'<(input|select|textarea)\b([^>]*)>')


def controls(html: str) -> list[tuple[str, str]]:
    """``(name, attributes)`` of every input, select and text area of a page, in page order."""
    found = []
    for _tag, attributes in CONTROL.findall(html):
        name = re.search(r'\bname="([^"]*)"', attributes)
        if name:
            found.append((name.group(1), attributes))
    return found


def profile_controls(html: str) -> list[tuple[str, str]]:
    return [(name, attributes) for name, attributes in controls(html) if name in FIELDS_BY_NAME]


def on_the_page(fields) -> list[str]:
    """The fields' names as the form shows them: group by group (in the order the registry first
    names each), each group's fields in the registry's order."""
    groups = dict.fromkeys(f.widget.group for f in fields)
    return [f.name for group in groups for f in fields if f.widget.group == group]


def label_of(html: str, name: str) -> str:
    return unescape(re.search(rf'<label for="{name}">([^<]*)</label>', html).group(1))


def test_every_field_is_named_once_and_the_data_lists_begin_with_what_names_an_account():
    names = [f.name for f in ACCOUNT_FIELDS]
    assert len(names) == len(set(names)) == len(FIELDS_BY_NAME)
    assert [f.name for f in DATA_ORDER][: len(KNOWN_BY)] == list(KNOWN_BY)
    assert sorted(f.name for f in DATA_ORDER) == sorted(names)


def test_the_services_rules_are_the_registrys():
    assert PROFILE_FIELDS == {f.name: f.clean for f in ACCOUNT_FIELDS if f.set_by == PROFILE and f.clean}
    assert ACCOUNT_FLAGS == {f.name: f.clean for f in ACCOUNT_FIELDS if f.set_by == STAFF}
    # Every field on the form is one the person may set, with a rule for it.
    assert {f.name for f in FORM_FIELDS} <= set(PROFILE_FIELDS)


def test_the_profile_form_asks_for_the_registrys_fields_in_its_order(app, client, make_user):
    account = make_user(first_name="Ann")
    expected = [f.name for f in FORM_FIELDS]
    assert list(ProfileForm.TEXT_FIELDS) == expected

    page = signed_in(client, account).get("/profile/edit").get_data(as_text=True)

    found = dict(profile_controls(page))
    assert [name for name in found if name != "avatar"] == on_the_page(FORM_FIELDS)
    for account_field in FORM_FIELDS:
        name, attributes = account_field.name, found[account_field.name]
        assert label_of(page, name) == str(account_field.label)
        for attribute, value in account_field.widget.attributes().items():
            if attribute != "rows" or account_field.widget.input == "textarea":
                assert f'{attribute}="{value}"' in attributes, (name, attribute)


def test_the_profile_page_shows_back_the_registrys_details_each_as_its_kind_reads(app, client, make_user):
    account = make_user(first_name="Ann", country="IR", gender="female", phone="+1 555 0124")

    page = signed_in(client, account).get("/profile/").get_data(as_text=True)

    details = page[page.index('id="details-heading"'):]
    details = details[:details.index("</dl>")]
    shown = dict(re.findall(r"<dt>([^<]*)</dt><dd[^>]*>(.*?)</dd>", details, re.S))
    assert list(shown) == [str(f.label) for f in DETAIL_FIELDS]
    assert shown["Country"] == "Iran" and shown["Gender"] == "Female" and shown["Birthday"] == "—"
    assert shown["First name"] == '<span dir="auto">Ann</span>'
    assert 'class="phone"' in shown["Phone number"] and "verified" in shown["Email address"]


def test_the_admin_profile_form_and_filters_are_the_registrys(app, make_user):
    admin = make_user("root@example.com", staff=True, superuser=True)
    member = make_user("mia@example.com")
    client = signed_in(app.test_client(), admin)

    detail = client.get(f"/admin/users/{member.id}").get_data(as_text=True)
    listing = client.get("/admin/users/").get_data(as_text=True)

    profile_form = detail[detail.index('id="profile-heading"'):]
    profile_form = profile_form[:profile_form.index("</form>")]
    assert [name for name, _attributes in profile_controls(profile_form)] == on_the_page(FORM_FIELDS) + ["avatar"]
    filters = listing[listing.index('role="search"'):]
    filters = filters[:filters.index("</form>")]
    flags = [f.admin_filter for f in ACCOUNT_FIELDS if f.admin_filter and f.reads_as == "flag"]
    by_value = [f.admin_filter for f in ACCOUNT_FIELDS if f.admin_filter and f.reads_as != "flag"]
    assert [name for name, _attributes in controls(filters)] == ["q", *flags, "group", *by_value, "sort", "order"]
    for account_field in ACCOUNT_FIELDS:
        if account_field.admin_filter:
            assert label_of(filters, f"filter-{account_field.admin_filter}") == str(account_field.label)


def test_a_filter_by_value_offers_each_value_and_none_and_finds_by_it(app, make_user):
    admin = make_user("root@example.com", staff=True, superuser=True)
    make_user("fa@example.com", language="fa")
    client = signed_in(app.test_client(), admin)

    for account_field in (f for f in ACCOUNT_FIELDS if f.admin_filter and f.reads_as != "flag"):
        name = account_field.admin_filter
        listing = client.get("/admin/users/", query_string={name: "fa"}).get_data(as_text=True)
        select = listing[listing.index(f'<select id="filter-{name}"'):]
        select = select[:select.index("</select>")]
        with app.test_request_context():
            values = [value for value, _name, _attributes in value_options(account_field.reads_as)]
        assert re.findall(r'<option value="([^"]*)"', select) == values + ["none"]
    exported = client.get("/admin/users/export.csv", query_string={"language": "fa"}).get_data(as_text=True)
    assert [row["email"] for row in csv.DictReader(io.StringIO(exported))] == ["fa@example.com"]


def test_the_export_and_the_csv_hold_the_registrys_fields_in_its_data_order(app, make_user):
    admin = make_user("root@example.com", staff=True, superuser=True)
    client = signed_in(app.test_client(), admin)

    profile = client.get("/profile/export").get_json()["profile"]
    header = next(csv.reader(io.StringIO(client.get("/admin/users/export.csv").get_data(as_text=True))))

    assert list(profile) == [f.name for f in DATA_ORDER]
    assert header == [f.name for f in DATA_ORDER if f.in_csv] + ["groups"]


def test_the_audit_names_each_audited_field_by_its_registry_label(app):
    with app.test_request_context(), force_locale("fa"):
        for account_field in ACCOUNT_FIELDS:
            if account_field.audit_label is not None:
                assert field_label(account_field.name) == str(account_field.audit_label)


def test_a_recorded_value_reads_as_its_kind_says(app):
    with app.test_request_context(), force_locale("en"):
        assert change_value("IR", "country") == "Iran"
        assert change_value("female", "gender") == "Female"
        assert change_value("fa", "language") == "فارسی"
        assert change_value("1990-03-04", "birthday") == "1990-03-04"
        assert change_value("a1b2.webp", "avatar") == "a picture"
        assert 'class="phone"' in change_value("+1 555 0124", "phone")
        assert 'class="email"' in change_value("ann@example.com", "email")
        assert change_value("Ann", "first_name") == '<bdi dir="auto">Ann</bdi>'


def test_the_page_language_is_the_one_the_i18n_layer_chose(app, client):
    with app.app_context():
        assert page_language() == "en"  # no page: English
    with app.test_request_context("/", headers={"Accept-Language": "fa"}):
        assert page_language() == "fa"
    with app.test_request_context("/api/v1/accounts/users/", headers={"Accept-Language": "fa"}):
        assert page_language() == "en"  # the API speaks English
