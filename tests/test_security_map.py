"""SECURITY.md's "Requirements and their tests": every row names tests that exist, or says why none.

The first tests read the table: a row must name one or more tests as ``path/to/test_file.py::test_name``
(each file must exist and define that test, at module level or in a ``Test*`` class, as ``ast`` reads
it) or say "not applicable:" or "not met:" with the reason; every level 1 and 2 requirement of the
four chapters must have its row. A test of the checker itself shows it finds what it looks for.

The "Ways in" list is checked against the code: every view or command that reaches one of the
functions that make a session, a JWT sign-in or an API key must be on it.

The rest prove requirements that no other test proved (the rows that name them say which).
"""

import ast
import inspect
import re
import secrets
from datetime import timedelta
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urlsplit

import jwt
import pyotp
import pyotp.compat
from cryptography.hazmat.primitives.asymmetric import rsa
from flask_migrate import upgrade
from flask_wtf import FlaskForm
from jwt.algorithms import RSAAlgorithm
from sqlalchemy import func, select, update

from portal.extensions import db
from portal.models import Credential, User, utcnow
from portal.services.audit import Actor
from portal.services.people import passwords, verification
from portal.services.signing_in import totp
from portal.web import forms as web_forms
from tests.conftest import PASSWORD

ROOT = Path(__file__).resolve().parent.parent
SECURITY_MD = ROOT / "SECURITY.md"
SECTION = "## Requirements and their tests"
WAYS_IN = "### Ways in"

# OWASP ASVS 5.0.0, levels 1 and 2, of the chapters the map covers (V6.7 has level 3 requirements only).
LEVEL_1_AND_2 = {
    "V6": [
        "6.1.1", "6.1.2", "6.1.3",
        *(f"6.2.{n}" for n in range(1, 13)),
        "6.3.1", "6.3.2", "6.3.3", "6.3.4",
        "6.4.1", "6.4.2", "6.4.3", "6.4.4",
        "6.5.1", "6.5.2", "6.5.3", "6.5.4", "6.5.5",
        "6.6.1", "6.6.2", "6.6.3",
        "6.8.1", "6.8.2", "6.8.3", "6.8.4",
    ],
    "V7": [
        "7.1.1", "7.1.2", "7.1.3", "7.2.1", "7.2.2", "7.2.3", "7.2.4", "7.3.1", "7.3.2",
        "7.4.1", "7.4.2", "7.4.3", "7.4.4", "7.4.5", "7.5.1", "7.5.2", "7.6.1", "7.6.2",
    ],
    "V8": ["8.1.1", "8.1.2", "8.2.1", "8.2.2", "8.2.3", "8.3.1", "8.4.1"],
    "V9": ["9.1.1", "9.1.2", "9.1.3", "9.2.1", "9.2.2", "9.2.3", "9.2.4"],
}


# Reading the table -------------------------------------------------------------------------------


REFERENCE = re.compile(r"(tests/[\w/.-]+\.py)::(\w+)")
NOTE = re.compile(r"^\s*(not applicable|not met):\s*\S", re.IGNORECASE)
NUMBER = re.compile(r"^\*\*(\d+)\.(\d+)\.(\d+)\*\*")
CHAPTER = re.compile(r"^###\s+(V\d+)\b")


def section(markdown: str, heading: str) -> str:
    """The text under ``heading`` up to the next heading of the same or a higher level."""
    level = len(heading) - len(heading.lstrip("#"))
    lines = markdown.splitlines()
    try:
        start = lines.index(heading)
    except ValueError:
        return ""
    end = next(
        (i for i in range(start + 1, len(lines)) if re.match(rf"^#{{1,{level}}}\s", lines[i])),
        len(lines),
    )
    return "\n".join(lines[start + 1 : end])


def table_rows(text: str):
    """Each row of each Markdown table in ``text``, as (line, chapter heading, cells), header and rule left out."""
    chapter = None
    for line_number, line in enumerate(text.splitlines(), 1):
        if heading := CHAPTER.match(line):
            chapter = heading.group(1)
        if not line.startswith("|"):
            continue
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if set("".join(cells)) <= set("-: ") or cells[0] in ("requirement", "way in"):
            continue
        yield line_number, chapter, cells


def defined_tests(path: Path) -> set[str]:
    """The tests pytest collects from a file, as its source says: ``test_*`` functions at module level
    and ``test_*`` methods of ``Test*`` classes."""
    found = set()
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name.startswith("test_"):
            found.add(node.name)
        elif isinstance(node, ast.ClassDef) and node.name.startswith("Test"):
            found.update(
                item.name
                for item in node.body
                if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef) and item.name.startswith("test_")
            )
    return found


def map_problems(markdown: str, root: Path) -> tuple[list[str], list[str]]:
    """What is wrong with the requirement rows of ``markdown`` (paths relative to ``root``), and the
    requirement numbers the rows name."""
    problems, numbers, known = [], [], {}
    text = section(markdown, SECTION)
    if not text:
        return [f"SECURITY.md has no {SECTION!r} section"], []
    for line, chapter, cells in table_rows(text):
        if chapter is None:
            continue  # the "Ways in" table comes before the chapters
        if len(cells) != 3:
            problems.append(f"line {line} of the section: a row needs 3 cells, this one has {len(cells)}")
            continue
        requirement, _, proof = cells
        number = NUMBER.match(requirement)
        if number is None:
            problems.append(f"line {line} of the section: the requirement does not start with its number in bold")
            continue
        label = ".".join(number.groups())
        numbers.append(label)
        if f"V{number.group(1)}" != chapter:
            problems.append(f"{label}: is under {chapter}")
        references = REFERENCE.findall(proof)
        if not references and not NOTE.match(proof):
            problems.append(f"{label}: names no test and says neither 'not applicable: …' nor 'not met: …'")
        for path, name in references:
            file = root / path
            if not file.is_file():
                problems.append(f"{label}: {path} does not exist")
                continue
            if path not in known:
                known[path] = defined_tests(file)
            if name not in known[path]:
                problems.append(f"{label}: {path}::{name} is not a test in that file")
    return problems, numbers


def test_every_row_names_tests_that_exist_or_says_why_not():
    problems, numbers = map_problems(SECURITY_MD.read_text(encoding="utf-8"), ROOT)

    assert numbers, "no requirement rows found"
    assert problems == [], "\n".join(["SECURITY.md's requirement map:", *problems])


def test_every_level_1_and_2_requirement_of_the_four_chapters_has_one_row():
    _, numbers = map_problems(SECURITY_MD.read_text(encoding="utf-8"), ROOT)
    wanted = [number for chapter in LEVEL_1_AND_2.values() for number in chapter]

    missing = [number for number in wanted if number not in numbers]
    repeated = sorted({number for number in numbers if numbers.count(number) > 1})
    unknown = [number for number in numbers if number not in wanted]
    assert (missing, repeated, unknown) == ([], [], []), (
        f"missing {missing}, repeated {repeated}, not of level 1 or 2 {unknown}"
    )


def test_the_checker_finds_a_missing_test_a_missing_file_and_a_row_without_either(tmp_path):
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "test_a.py").write_text(
        "def test_here(): pass\n"
        "def helper(): pass\n"
        "class TestGroup:\n    def test_in_a_class(self): pass\n"
        "def outer():\n    def test_nested(): pass\n"
    )
    markdown = "\n".join([
        "# Security", SECTION, "", "### V6 Authentication", "",
        "| requirement | how | proof |", "|---|---|---|",
        "| **6.1.1** fine | a | `tests/test_a.py::test_here`, `tests/test_a.py::test_in_a_class` |",
        "| **6.1.2** a typo | a | `tests/test_a.py::test_hear` |",
        "| **6.1.3** not a test | a | `tests/test_a.py::helper`, `tests/test_a.py::test_nested` |",
        "| **6.2.1** no file | a | `tests/test_b.py::test_here` |",
        "| **6.2.2** nothing | a | passes, trust me |",
        "| **6.2.3** excused | a | not applicable: no such thing here. |",
        "| **6.2.4** owned up | a | not met: nobody wrote it. |",
        "| **6.2.5** empty note | a | not met: |",
        "| **7.1.1** lost | a | not applicable: wrong chapter. |",
        "| **6.2.6** two cells | a |",
        "", "## Next section", "| **6.9.9** after the section | a | nothing |",
    ])

    problems, numbers = map_problems(markdown, tmp_path)

    assert numbers == ["6.1.1", "6.1.2", "6.1.3", "6.2.1", "6.2.2", "6.2.3", "6.2.4", "6.2.5", "7.1.1"]
    assert problems == [
        "6.1.2: tests/test_a.py::test_hear is not a test in that file",
        "6.1.3: tests/test_a.py::helper is not a test in that file",
        "6.1.3: tests/test_a.py::test_nested is not a test in that file",
        "6.2.1: tests/test_b.py does not exist",
        "6.2.2: names no test and says neither 'not applicable: …' nor 'not met: …'",
        "6.2.5: names no test and says neither 'not applicable: …' nor 'not met: …'",
        "7.1.1: is under V6",
        "line 15 of the section: a row needs 3 cells, this one has 2",
    ]
    assert map_problems("# Security\n", tmp_path) == ([f"SECURITY.md has no {SECTION!r} section"], [])


# Ways in -----------------------------------------------------------------------------------------

# The functions that make a way in: a browser session, a JWT sign-in (or its next pair), an API key.
ISSUERS = {
    ("portal.services.ways_in.browser_sessions", "start_browser_session"),
    ("portal.services.ways_in.tokens", "issue_token_pair"),
    ("portal.services.ways_in.tokens", "rotate_refresh_token"),
    ("portal.services.ways_in.api_keys", "issue_api_key"),
}


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def portal_references() -> dict[tuple[str, str], set[tuple[str, str]]]:
    """For each top-level function of the portal, the portal functions it calls or hands on (as a
    view hands a service to ``call_for``), resolved through the module's imports."""
    files = {_module_name(path): path for path in (ROOT / "portal").rglob("*.py")}
    references = {}
    for module, path in files.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        package = module if path.name == "__init__.py" else module.rpartition(".")[0]
        imported = {}  # local name -> ("module", name) or ("function", (module, name))
        for node in tree.body:
            if isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join(anchor + ([node.module] if node.module else []))
                for alias in node.names:
                    full = f"{base}.{alias.name}"
                    kind = ("module", full) if full in files else ("function", (base, alias.name))
                    imported[alias.asname or alias.name] = kind
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name in files:
                        imported[alias.asname or alias.name] = ("module", alias.name)
        defined = {node.name for node in tree.body if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)}
        for node in tree.body:
            if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            named = set()
            for sub in ast.walk(node):
                if isinstance(sub, ast.Name) and sub.id in defined:
                    named.add((module, sub.id))
                elif isinstance(sub, ast.Name) and imported.get(sub.id, ("",))[0] == "function":
                    named.add(imported[sub.id][1])
                elif (
                    isinstance(sub, ast.Attribute)
                    and isinstance(sub.value, ast.Name)
                    and imported.get(sub.value.id, ("",))[0] == "module"
                ):
                    named.add((imported[sub.value.id][1], sub.attr))
            references[(module, node.name)] = named
    return references


def ways_in_of_the_code(app) -> set[str]:
    """Every route path and command whose view reaches one of ``ISSUERS``."""
    references = portal_references()
    assert ISSUERS <= set(references), f"renamed? {ISSUERS - set(references)}"
    reaching, grown = set(ISSUERS), True
    while grown:
        grown = False
        for function, named in references.items():
            if function not in reaching and named & reaching:
                reaching.add(function)
                grown = True

    def reaches(view) -> bool:
        view = inspect.unwrap(view)
        return (view.__module__, view.__name__) in reaching

    found = {rule.rule for rule in app.url_map.iter_rules() if reaches(app.view_functions[rule.endpoint])}
    commands = app.cli.commands.items()
    found |= {f"flask {name}" for name, command in commands if command.callback and reaches(command.callback)}
    return found


def documented_ways_in() -> set[str]:
    text = section(section(SECURITY_MD.read_text(encoding="utf-8"), SECTION), WAYS_IN)
    found = set()
    for _, _, cells in table_rows(text):
        found |= set(re.findall(r"`(?:GET|POST|PUT|PATCH|DELETE) (/[^`\s]*)`", cells[0]))
        found |= {f"flask {name}" for name in re.findall(r"`flask (?:--app portal )?([\w-]+)[^`]*`", cells[0])}
    return found


def test_every_way_in_is_documented(app):
    in_the_code, documented = ways_in_of_the_code(app), documented_ways_in()

    assert "/api/token/" in in_the_code and "/login" in in_the_code  # the reading finds what it looks for
    assert (sorted(in_the_code - documented), sorted(documented - in_the_code)) == ([], []), (
        "(ways in missing from SECURITY.md's 'Ways in', listed there but making no credential)"
    )


# Requirements no other test proved ---------------------------------------------------------------


class _Inputs(HTMLParser):
    def __init__(self, html: str):
        super().__init__(convert_charrefs=True)
        self.inputs, self.handlers, self.forms = [], [], []
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        if tag == "input":
            self.inputs.append(attributes)
        if tag == "form":
            self.forms.append(attributes)
        self.handlers += [name for name in attributes if name.startswith("on")]


def _sign_in(app, account, password=PASSWORD):
    browser = app.test_client()
    response = browser.post("/login", data={"login": account.email, "password": password})
    assert response.status_code == 302, response.status_code
    return browser


def _actor(user):
    return Actor(user=user, ip="203.0.113.9", via="web")


def _turn_on_an_app(app, account) -> str:
    with app.app_context():
        user = db.session.get(User, account.id)
        secret = totp.enrol_totp(user, _actor(user)).secret
        totp.confirm_totp(user, pyotp.TOTP(secret).now(), _actor(user))
        db.session.commit()  # as the page's request would
    return secret


def test_every_password_field_is_masked_and_open_to_password_managers(app, client, make_user):
    account = make_user()
    with app.app_context():
        reset_link = verification.password_reset_link(db.session.get(User, account.id))
    browser = _sign_in(app, account)
    _turn_on_an_app(app, account)  # the security page then shows the form that turns it off
    with app.app_context():  # an old proof: making a key asks for the password first
        db.session.execute(update(Credential).values(proven_at=utcnow() - timedelta(hours=1)))
        db.session.commit()
    pages = {
        "/login": client.get("/login"),
        "/register": client.get("/register"),
        "the reset link": client.get(urlsplit(reset_link).path),
        "/profile/password": browser.get("/profile/password"),
        "/profile/delete": browser.get("/profile/delete"),
        "/profile/security": browser.get("/profile/security"),
        "the re-authentication prompt": browser.post("/profile/keys", data={"name": "laptop"}),
    }

    fields = {}
    for name, page in pages.items():
        parsed = _Inputs(page.get_data(as_text=True))
        assert parsed.handlers == [], (name, parsed.handlers)
        fields[name] = [
            (field.get("type"), field.get("autocomplete"), field.get("maxlength"))
            for field in parsed.inputs
            if "password" in field.get("name", "")
        ]
    assert {name: bool(found) for name, found in fields.items()} == dict.fromkeys(pages, True), fields
    wrong = {
        name: found
        for name, found in fields.items()
        for kind, autocomplete, maxlength in found
        if kind != "password"
        or autocomplete not in ("current-password", "new-password")
        or (maxlength is not None and int(maxlength) < 64)
    }
    assert wrong == {}
    scripts = {path.name: path.read_text() for path in (ROOT / "portal" / "static").rglob("*.js")}
    listens = re.compile(r"""\bon(?:paste|copy|cut)\b|addEventListener\(\s*["'](?:paste|copy|cut)["']""")
    assert {name for name, text in scripts.items() if listens.search(text)} == set()


def test_a_password_is_checked_exactly_as_typed(app, client, make_user):
    typed = "  Tr0ub4dor&3-Staple "
    account = make_user(password=typed)

    def api(password):
        return client.post("/api/token/", json={"email": account.email, "password": password}).status_code

    def page(password):
        return app.test_client().post("/login", data={"login": account.email, "password": password}).status_code

    variants = [typed.strip(), typed.lower(), typed.upper(), typed + " ", typed[:-2]]
    assert (api(typed), page(typed)) == (200, 302)
    assert [api(variant) for variant in variants] == [401] * len(variants)
    assert [page(variant) for variant in variants] == [400] * len(variants)  # the form again, with its error


def test_a_password_of_any_composition_and_length_is_accepted(app, client, make_user):
    chosen = [
        "only lower case words here",
        "!@#$%^&*()_+-=[]{};:,.<>?",
        "رمز عبور من همین است",
        "🐎🔋📎 and a staple",
        "a" * 20 + "-Sixty-Four-Characters-" + "z" * 21,
        "a long passphrase of two hundred characters " * 4 + "and its end" + "!" * 13,
    ]
    assert [len(password) for password in chosen[-2:]] == [64, 200]

    for number, password in enumerate(chosen):
        account = make_user(f"chooser{number}@example.org", password)
        assert client.post("/api/token/", json={"email": account.email, "password": password}).status_code == 200
    longest = chosen[-1][:-1] + "?"
    assert client.post("/api/token/", json={"email": "chooser5@example.org", "password": longest}).status_code == 401


def test_a_password_set_long_ago_still_signs_in(app, client, make_user):
    account = make_user()
    five_years = timedelta(days=5 * 366)
    with app.app_context():
        user = db.session.get(User, account.id)
        user.date_joined, user.updated_at = user.date_joined - five_years, user.updated_at - five_years
        user.activated_at = user.activated_at - five_years
        db.session.commit()

    response = client.post("/api/token/", json={"email": account.email, "password": PASSWORD})

    assert response.status_code == 200 and set(response.get_json()) == {"access", "refresh"}
    assert _sign_in(app, account).get("/profile/").status_code == 200


def test_the_common_list_holds_3000_passwords_the_other_rules_accept():
    fitting = sorted(word for word in passwords._common_passwords() if len(word) >= 8 and not word.isdigit())

    assert len(fitting) >= 3000
    assert {tuple(passwords.password_problems(word)) for word in fitting} == {("This password is too common.",)}


def test_no_account_exists_until_one_is_made_and_the_first_password_is_random(app, make_app):
    with app.app_context():
        db.drop_all()
        with db.engine.begin() as connection:
            connection.exec_driver_sql("DROP TABLE IF EXISTS alembic_version")
        upgrade()  # the schema as a deployment gets it
        users = db.session.scalar(select(func.count()).select_from(User))
        db.session.remove()
        with db.engine.begin() as connection:
            connection.exec_driver_sql("DROP TABLE alembic_version")
    assert users == 0

    printed = []
    for _ in range(2):
        output = make_app().test_cli_runner().invoke(args=["ensure-superuser"]).output
        printed.append(re.search(r"password:\s*(\S+)", output).group(1))
    assert printed[0] != printed[1]
    assert all(len(password) >= 16 for password in printed)


def test_no_password_hint_or_secret_question_is_asked_or_kept(app, client):
    asked = re.compile(r"hint|question|secret_?answer|security_?answer|reminder", re.IGNORECASE)
    columns = [f"{table.name}.{column.name}" for table in db.metadata.tables.values() for column in table.columns]
    schemas = client.get("/api/openapi.json").get_json()["components"]["schemas"]
    properties = [f"{name}.{prop}" for name, schema in schemas.items() for prop in schema.get("properties", {})]
    form_fields = [
        f"{form.__name__}.{name}"
        for form in vars(web_forms).values()
        if isinstance(form, type) and issubclass(form, FlaskForm)
        for name in dir(form)
        if not name.startswith("_")
    ]

    assert len(columns) > 20 and len(properties) > 20 and len(form_fields) > 20
    assert [name for name in columns + properties + form_fields if asked.search(name)] == []


def test_a_password_reset_does_not_skip_the_second_step(app, client, make_user):
    account = make_user()
    _turn_on_an_app(app, account)
    with app.app_context():
        link = verification.password_reset_link(db.session.get(User, account.id))
    uid, token = urlsplit(link).path.strip("/").split("/")[-2:]

    new_password = "Lantern-Orchard-Reset-73"
    confirm = {"uid": uid, "token": token, "new_password": new_password}

    reset = client.post("/api/users/reset_password_confirm/", json=confirm)

    assert reset.status_code == 204 and "Set-Cookie" not in reset.headers
    signed_in = client.post("/api/token/", json={"email": account.email, "password": new_password})
    assert signed_in.status_code == 401 and signed_in.get_json()["mfa_required"] is True
    assert "access" not in signed_in.get_json()
    page = app.test_client().post("/login", data={"login": account.email, "password": new_password})
    assert page.headers["Location"] == "/login/second-step"
    with app.app_context():
        ways_in = select(func.count()).select_from(Credential).where(Credential.user_id == account.id)
        assert db.session.scalar(ways_in) == 0  # neither the reset nor a first step made one


def test_secrets_come_from_the_operating_systems_generator():
    importing_random = []
    for path in (ROOT / "portal").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = [alias.name for alias in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom) and node.level == 0:
                names = [node.module]
            if "random" in names:
                importing_random.append(str(path.relative_to(ROOT)))

    assert importing_random == []
    assert isinstance(pyotp.compat.random, secrets.SystemRandom)  # what pyotp.random_base32 draws from


def test_a_session_is_named_by_at_least_128_random_bits(app, make_user):
    account = make_user()
    names = []
    for _ in range(2):
        browser = _sign_in(app, account)
        with browser.session_transaction() as session:
            names.append(session["credential"])

    assert names[0] != names[1]
    assert all(re.fullmatch(r"[\w-]+", name) and len(name) * 6 >= 128 for name in names), names


def test_a_browser_session_past_its_lifetime_signs_nobody_in(app, make_user):
    account = make_user()
    browser = _sign_in(app, account)
    assert browser.get("/profile/").status_code == 200

    with app.app_context():
        db.session.execute(update(Credential).values(expires_at=utcnow() - timedelta(seconds=1)))
        db.session.commit()

    response = browser.get("/profile/")
    assert response.status_code == 302 and response.headers["Location"].startswith("/login")


def test_every_signed_in_page_offers_sign_out(app, make_user):
    account = make_user("root@example.com", superuser=True)
    browser = _sign_in(app, account)
    urls = []
    for rule in app.url_map.iter_rules():
        if "GET" not in rule.methods or not rule.endpoint.startswith(("web.", "admin.")):
            continue
        if not rule.arguments:
            urls.append(rule.rule)
        elif rule.arguments == {"user_id"}:
            urls.append(rule.rule.replace("<int:user_id>", str(account.id)))

    checked, missing = [], []
    for url in urls:
        response = browser.get(url)
        response.close()  # a download streams: ended here, as a server ends it, not left to the next request
        if response.status_code != 200 or response.mimetype != "text/html":
            response.close()  # a streamed download left open would hold its request's context
            continue  # a redirect, a download
        checked.append(url)
        forms = _Inputs(response.get_data(as_text=True)).forms
        if not any(form.get("action") == "/logout" and form.get("method") == "post" for form in forms):
            missing.append(url)

    assert len(checked) >= 15, checked
    assert missing == []


def test_a_token_that_names_its_own_key_is_refused(client, make_user):
    account = make_user()
    access = client.post("/api/token/", json={"email": account.email, "password": PASSWORD}).get_json()["access"]
    claims = jwt.decode(access, options={"verify_signature": False})
    theirs = "a-key-of-the-attackers-own-choosing-0123456789"
    private_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public_jwk = RSAAlgorithm.to_jwk(private_key.public_key(), as_dict=True)
    forged = [
        jwt.encode(claims, theirs, algorithm="HS256", headers={
            "kid": "theirs", "jku": "https://attacker.example/jwks.json",
            "jwk": {"kty": "oct", "k": jwt.utils.base64url_encode(theirs.encode()).decode()},
        }),
        jwt.encode(claims, private_key, algorithm="RS256", headers={
            "jwk": public_jwk, "x5u": "https://attacker.example/cert.pem",
        }),
    ]

    def me(token):
        return client.get("/api/users/me/", headers={"Authorization": f"Bearer {token}"}).status_code

    assert me(access) == 200
    assert [me(token) for token in forged] == [401, 401]
