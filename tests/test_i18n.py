"""German translation: the pages switch language, and no string ships untranslated.

The catalogue checks need no gettext binaries: the .po file is parsed here,
and the strings the code marks for translation are found with Django's own
template lexer (``templatize``) and Python's ``ast``, the way ``makemessages``
finds them. A string added to a template or a model without a German
translation therefore fails CI with the list of what is missing.

To fix such a failure::

    .venv/bin/python manage.py makemessages -l de --ignore=.venv --ignore=staticfiles
    # translate every new msgid in locale/de/LC_MESSAGES/django.po (no fuzzy)
    .venv/bin/python manage.py compilemessages --ignore=.venv
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from django.conf import settings
from django.utils import translation
from django.utils.translation.template import templatize

PO_FILE = Path(settings.BASE_DIR) / "locale" / "de" / "LC_MESSAGES" / "django.po"
MO_FILE = PO_FILE.with_suffix(".mo")
PASSWORD = "a-long-test-passphrase"

# What makemessages would skip in this project (--ignore=.venv --ignore=staticfiles
# plus its defaults), and the extensions it reads (html, txt, py).
IGNORED_DIRS = {".venv", "venv", "staticfiles", "node_modules", "var", "test-artifacts", "__pycache__"}
TEMPLATE_SUFFIXES = {".html", ".txt"}
PLACEHOLDER = re.compile(r"%\(\w+\)[sdif]|%[sdif]|\{\w*\}")


# --- pages ------------------------------------------------------------------


@pytest.mark.django_db
def test_login_page_is_german_for_a_german_browser(client):
    response = client.get("/login/", HTTP_ACCEPT_LANGUAGE="de-DE,de;q=0.9,en;q=0.5")

    assert response.status_code == 200
    assert response["Content-Language"] == "de"
    html = response.content.decode()
    assert '<html lang="de">' in html
    assert "<title>Anmelden · InvestAI</title>" in html
    assert "Benutzername" in html
    assert "Passwort" in html


@pytest.mark.django_db
def test_login_page_stays_english_by_default(client):
    response = client.get("/login/")

    html = response.content.decode()
    assert '<html lang="en">' in html
    assert "<title>Log in · InvestAI</title>" in html


@pytest.mark.django_db
def test_language_switch_turns_the_dashboard_german(client, django_user_model):
    django_user_model.objects.create_user("greta", "greta@example.eu", PASSWORD, first_name="Greta")
    assert client.login(username="greta", password=PASSWORD)
    assert "Welcome, Greta" in client.get("/").content.decode()

    response = client.post("/i18n/setlang/", {"language": "de", "next": "/"}, follow=True)

    assert response.redirect_chain[-1] == ("/", 302)
    assert response.client.cookies[settings.LANGUAGE_COOKIE_NAME].value == "de"
    html = response.content.decode()
    assert '<html lang="de">' in html
    assert "<title>Übersicht · InvestAI</title>" in html
    assert "Willkommen, Greta" in html
    for label in ("Standorte", "Abmelden", "Ihre Organisationen"):
        assert label in html
    # The choice sticks for the following requests of the session.
    assert "Willkommen, Greta" in client.get("/").content.decode()


# --- the catalogue ------------------------------------------------------------


@dataclass
class Entry:
    line: int
    msgid: str = ""
    msgctxt: str | None = None
    msgid_plural: str | None = None
    msgstr: dict[int, str] = field(default_factory=dict)
    flags: set[str] = field(default_factory=set)

    @property
    def key(self) -> tuple[str | None, str]:
        return (self.msgctxt, self.msgid)


def _unquote(text: str) -> str:
    return ast.literal_eval(text.strip())


def parse_po(path: Path) -> list[Entry]:
    """The active entries of a .po file (obsolete ``#~`` entries are skipped)."""
    entries: list[Entry] = []
    current: Entry | None = None
    target: tuple[str, int] | None = None  # the field that continuation lines extend
    flags: set[str] = set()
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#~"):
            continue
        if line.startswith("#,"):
            flags |= {flag.strip() for flag in line[2:].split(",")}
            continue
        if line.startswith("#"):
            continue
        keyword, _, value = line.partition(" ")
        if line.startswith('"'):
            assert current is not None and target is not None, f"{path}:{number}: stray string"
            name, index = target
            if name == "msgstr":
                current.msgstr[index] += _unquote(line)
            else:
                setattr(current, name, (getattr(current, name) or "") + _unquote(line))
            continue
        # An entry starts at its msgctxt or msgid; a msgid right after the
        # entry's own msgctxt (no msgstr yet) belongs to the same entry.
        if keyword in ("msgctxt", "msgid") and (current is None or current.msgstr):
            current = Entry(line=number, flags=flags)
            entries.append(current)
            flags = set()
        assert current is not None, f"{path}:{number}: {keyword} before any msgid"
        if keyword.startswith("msgstr"):
            index = int(keyword[7:-1]) if keyword.startswith("msgstr[") else 0
            current.msgstr[index] = _unquote(value)
            target = ("msgstr", index)
        elif keyword in ("msgid", "msgctxt", "msgid_plural"):
            setattr(current, keyword, _unquote(value))
            target = (keyword, 0)
        else:
            raise AssertionError(f"{path}:{number}: cannot read {raw!r}")
    return entries


def german_entries() -> list[Entry]:
    assert PO_FILE.exists(), f"{PO_FILE} is missing: run makemessages -l de"
    return [entry for entry in parse_po(PO_FILE) if entry.msgid != ""]


def test_po_file_is_complete_and_not_fuzzy():
    entries = german_entries()
    assert entries, "the German catalogue is empty"

    untranslated = [e.msgid for e in entries if not e.msgstr or any(not s.strip() for s in e.msgstr.values())]
    fuzzy = [e.msgid for e in entries if "fuzzy" in e.flags]
    header = parse_po(PO_FILE)[0]
    assert header.msgid == ""
    assert "fuzzy" not in header.flags, "the header is fuzzy: Django then ignores the whole catalogue"
    assert "Language: de\n" in header.msgstr[0]
    assert not untranslated, f"untranslated German strings in {PO_FILE}: {untranslated}"
    assert not fuzzy, f"fuzzy German strings in {PO_FILE} (check them, then drop the flag): {fuzzy}"


def test_translations_keep_their_placeholders():
    broken = [
        (e.msgid, s)
        for e in german_entries()
        for s in e.msgstr.values()
        if sorted(PLACEHOLDER.findall(e.msgid)) != sorted(PLACEHOLDER.findall(s))
    ]
    assert not broken, f"placeholders differ between English and German: {broken}"


def test_compiled_catalogue_matches_the_po_file():
    """Django serves the .mo file: a forgotten compilemessages shows English."""
    assert MO_FILE.exists(), f"{MO_FILE} is missing: run compilemessages --ignore=.venv"
    stale = []
    with translation.override("de"):
        for e in german_entries():
            if e.msgid_plural is not None:
                got = (
                    translation.npgettext(e.msgctxt, e.msgid, e.msgid_plural, 1)
                    if e.msgctxt
                    else (translation.ngettext(e.msgid, e.msgid_plural, 1))
                )
            elif e.msgctxt is not None:
                got = translation.pgettext(e.msgctxt, e.msgid)
            else:
                got = translation.gettext(e.msgid)
            if got != e.msgstr[0]:
                stale.append((e.msgid, got, e.msgstr[0]))
    assert not stale, f"django.mo is older than django.po, run compilemessages: {stale}"


# --- every marked string is in the catalogue ----------------------------------


def _project_files(suffixes: set[str]) -> list[Path]:
    base = Path(settings.BASE_DIR)
    found = []
    for path in base.rglob("*"):
        parts = path.relative_to(base).parts
        if any(part in IGNORED_DIRS or part.startswith(".") for part in parts[:-1]):
            continue
        if path.suffix in suffixes and path.is_file():
            found.append(path)
    return sorted(found)


# templatize() rewrites {% translate %} and {% blocktranslate %} as gettext calls.
_STRING = r"""u?(?:'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")"""
_TEMPLATE_CALL = re.compile(rf"\b(?P<fn>gettext|pgettext|ngettext|npgettext)\((?P<args>{_STRING}(?:\s*,\s*{_STRING})*)")


def template_msgids(path: Path) -> set[tuple[str | None, str]]:
    code = templatize(path.read_text(encoding="utf-8"), origin=str(path))
    keys = set()
    for match in _TEMPLATE_CALL.finditer(code):
        args = [ast.literal_eval(s) for s in re.findall(_STRING, match["args"])]
        if match["fn"].startswith("p") or match["fn"].startswith("np"):
            keys.add((args[0], args[1]))
        else:
            keys.add((None, args[0]))
    return keys


# xgettext's keywords for Python as Django's makemessages passes them.
_PY_PLAIN = {"_", "gettext", "gettext_lazy", "gettext_noop", "ngettext", "ngettext_lazy"}
_PY_CONTEXT = {"pgettext", "pgettext_lazy", "npgettext", "npgettext_lazy"}


def python_msgids(path: Path) -> set[tuple[str | None, str]]:
    keys = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if not isinstance(node, ast.Call):
            continue
        name = node.func.id if isinstance(node.func, ast.Name) else getattr(node.func, "attr", None)
        strings = [a.value if isinstance(a, ast.Constant) and isinstance(a.value, str) else None for a in node.args]
        if name in _PY_PLAIN and strings and strings[0] is not None:
            keys.add((None, strings[0]))
        elif name in _PY_CONTEXT and len(strings) >= 2 and None not in strings[:2]:
            keys.add((strings[0], strings[1]))
    return keys


def test_every_marked_string_has_a_german_translation():
    translated = {e.key for e in german_entries() if e.msgstr and all(s.strip() for s in e.msgstr.values())}
    missing: dict[str, list[str]] = {}
    base = Path(settings.BASE_DIR)
    for path in _project_files(TEMPLATE_SUFFIXES | {".py"}):
        if path.relative_to(base).parts[0] == "tests":
            continue
        keys = python_msgids(path) if path.suffix == ".py" else template_msgids(path)
        for context, msgid in sorted(keys - translated, key=str):
            missing.setdefault(str(path.relative_to(base)), []).append(
                msgid if context is None else f"{context}|{msgid}"
            )
    assert not missing, (
        "strings marked for translation but missing from the German catalogue "
        f"(run makemessages -l de, translate, compilemessages): {missing}"
    )


def test_the_catalogue_scanner_sees_the_known_strings():
    """Guard the guard: the scanner must find strings we know are there."""
    base = Path(settings.BASE_DIR)
    assert (None, "Log in") in template_msgids(base / "templates" / "registration" / "login.html")
    assert (None, "Welcome, %(name)s") in template_msgids(base / "templates" / "allocation" / "home.html")
    assert (None, "German") in python_msgids(base / "investai" / "settings.py")
