"""The German catalogs hold every string the code marks, each one translated, and the .mo files match."""

import gettext
import shutil
from pathlib import Path

import polib
import pytest
from django.conf import settings
from django.core.management import call_command

LOCALE = Path(settings.BASE_DIR) / "locale" / "de" / "LC_MESSAGES"
DOMAINS = ("django", "djangojs")
# What `makemessages` reads: the apps, the templates and the pages' scripts (README: Translations).
SOURCES = ("accounts", "agents", "chatsite", "conversations", "templates", "static")
IGNORED = ["agents/fakes/*"]

pytestmark = pytest.mark.skipif(not shutil.which("xgettext"), reason="gettext is not installed")


def entries(path: Path) -> dict[tuple[str, str, str], polib.POEntry]:
    return {(e.msgctxt or "", e.msgid, e.msgid_plural): e for e in polib.pofile(str(path)) if not e.obsolete}


@pytest.fixture(scope="module")
def fresh_catalogs(tmp_path_factory) -> Path:
    """The catalogs `makemessages` makes from the code as it is now, in a copy of the project."""
    root = tmp_path_factory.mktemp("project")
    for name in SOURCES:
        shutil.copytree(
            Path(settings.BASE_DIR) / name, root / name, ignore=shutil.ignore_patterns("__pycache__")
        )
    (root / "locale").mkdir()
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(root)
        patch.setattr(settings, "LOCALE_PATHS", [root / "locale"])
        for domain in DOMAINS:
            call_command(
                "makemessages",
                locale=["de"],
                domain=domain,
                ignore_patterns=IGNORED,
                verbosity=0,
                no_obsolete=True,
            )
    return root / "locale" / "de" / "LC_MESSAGES"


@pytest.mark.parametrize("domain", DOMAINS)
def test_the_catalog_holds_exactly_the_strings_the_code_marks(fresh_catalogs, domain):
    wanted = set(entries(fresh_catalogs / f"{domain}.po"))
    held = set(entries(LOCALE / f"{domain}.po"))
    assert wanted, "makemessages found nothing to translate"
    assert not wanted - held, f"not in locale/de/LC_MESSAGES/{domain}.po (run makemessages): {wanted - held}"
    assert not held - wanted, f"no longer in the code: {held - wanted}"


@pytest.mark.parametrize("domain", DOMAINS)
def test_every_string_is_translated_with_its_placeholders(domain):
    catalog = polib.pofile(str(LOCALE / f"{domain}.po"))
    assert catalog.percent_translated() == 100, [e.msgid for e in catalog.untranslated_entries()]
    assert not catalog.fuzzy_entries(), [e.msgid for e in catalog.fuzzy_entries()]
    for entry in catalog.translated_entries():
        if entry.msgid_plural:
            pairs = [(entry.msgid, entry.msgstr_plural[0]), (entry.msgid_plural, entry.msgstr_plural[1])]
        else:
            pairs = [(entry.msgid, entry.msgstr)]
        for english, german in pairs:
            assert sorted(placeholders(german)) == sorted(placeholders(english)), entry.msgid


def placeholders(text: str) -> list[str]:
    import re

    return re.findall(r"%\(\w+\)[sd]|<[^>]+>", text)


@pytest.mark.parametrize("domain", DOMAINS)
def test_the_compiled_catalog_is_the_po_file(domain, tmp_path):
    compiled = tmp_path / f"{domain}.mo"
    polib.pofile(str(LOCALE / f"{domain}.po")).save_as_mofile(str(compiled))
    with open(compiled, "rb") as fresh, open(LOCALE / f"{domain}.mo", "rb") as committed:
        fresh_catalog, committed_catalog = (
            gettext.GNUTranslations(fresh)._catalog,
            gettext.GNUTranslations(committed)._catalog,
        )
        # The header ("") differs between compilers; every message must not.
        fresh_catalog.pop("", None), committed_catalog.pop("", None)
        assert fresh_catalog == committed_catalog, (
            f"locale/de/LC_MESSAGES/{domain}.mo is older than its .po: run compilemessages"
        )
