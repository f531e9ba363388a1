"""House rules a test can see: the domain never imports the edge."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
EDGE = ("strawberry", "starlette", "api")
DOMAIN = ["loyalty", "wallet", "notifications", "geofence", "audience", "journeys"]
# loyalty is the core: it imports none of the other domain packages either.
CORE_FORBIDDEN = ("wallet", "notifications", "geofence", "audience", "journeys")
# audience sits beside wallet, notifications and geofence: it imports the core
# only (it may read the others' tables through SQL, never their code).
SIBLINGS = ("wallet", "notifications", "geofence", "journeys")


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("package", DOMAIN)
def test_domain_packages_do_not_import_the_edge(package):
    offenders = {str(p.relative_to(ROOT)): sorted(_imports(p) & set(EDGE))
                 for p in (ROOT / package).rglob("*.py")}
    assert {k: v for k, v in offenders.items() if v} == {}


def test_the_core_imports_no_other_domain_package():
    offenders = {str(p.relative_to(ROOT)): sorted(_imports(p) & set(CORE_FORBIDDEN))
                 for p in (ROOT / "loyalty").rglob("*.py")}
    assert {k: v for k, v in offenders.items() if v} == {}


def test_audience_imports_the_core_and_no_sibling():
    offenders = {str(p.relative_to(ROOT)): sorted(_imports(p) & set(SIBLINGS))
                 for p in (ROOT / "audience").rglob("*.py")}
    assert {k: v for k, v in offenders.items() if v} == {}


# loyalty/ by concept: its sub-packages, and the few modules every one of them
# shares (the vocabulary, and the periodic jobs that call into several).
LOYALTY_PARTS = {"platform", "identity", "ledger", "points", "programme", "imports", "models"}
LOYALTY_SHARED = {"__init__.py", "errors.py", "events.py", "money.py", "jobs.py"}
# What each lower part may import of loyalty's others.
LOYALTY_BELOW = {
    "platform": {"errors"},
    "ledger": {"platform", "errors", "events", "money", "models"},
}


def test_loyalty_is_grouped_by_concept():
    flat = {p.name for p in (ROOT / "loyalty").glob("*.py")}
    parts = {p.name for p in (ROOT / "loyalty").iterdir()
             if p.is_dir() and (p / "__init__.py").exists()}
    assert (flat - LOYALTY_SHARED, parts) == (set(), LOYALTY_PARTS)


@pytest.mark.parametrize("part", sorted(LOYALTY_BELOW))
def test_the_platform_and_the_ledger_import_nothing_above_them(part):
    def loyalty_imports(path: Path) -> set[str]:
        found: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.ImportFrom) and node.module == "loyalty":
                found.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("loyalty."):
                found.add(node.module.split(".")[1])  # type: ignore[union-attr]
        return found - {part}

    offenders = {str(p.relative_to(ROOT)): sorted(loyalty_imports(p) - LOYALTY_BELOW[part])
                 for p in (ROOT / "loyalty" / part).rglob("*.py")}
    assert {k: v for k, v in offenders.items() if v} == {}


def test_migrations_import_no_project_code():
    """A migration replays history: it must not follow today's models or
    enums (an enum's later change would change what an old migration means),
    so it spells out what it needs as it stood."""
    project = {*EDGE, *DOMAIN, "observability"}
    offenders = {str(p.relative_to(ROOT)): sorted(_imports(p) & project)
                 for p in (ROOT / "migrations").glob("*.py")}
    assert {k: v for k, v in offenders.items() if v} == {}


def test_production_refuses_the_default_secret():
    from loyalty.platform.config import ConfigError, Settings

    with pytest.raises(ConfigError):
        Settings(env="prod").check()
    with pytest.raises(ConfigError):
        Settings(env="prod", secret_key="short").check()
    # Any 40 characters once passed; "x" * 40 no longer does (tests/unit/test_prod_defaults.py).
    Settings(env="prod", secret_key="kR3v-9QzT_wL8mXb2NcYp5HdJ7fGs1Ae4UoVi6").check()
    Settings(env="dev").check()


def test_transactions_are_opened_through_the_cancellation_safe_door():
    """Tortoise's own in_transaction() leaks its connection or SQLite's lock
    when cancelled on the way in or out (loyalty/platform/db.py: transaction)."""
    offenders = []
    for package in [*DOMAIN, "api"]:
        for path in (ROOT / package).rglob("*.py"):
            text = path.read_text()
            if "in_transaction" in text and path != ROOT / "loyalty" / "platform" / "db.py":
                offenders.append(str(path.relative_to(ROOT)))
    assert offenders == []


LEDGER = ROOT / "loyalty" / "ledger"


def test_ledger_and_outbox_rows_are_written_through_one_door():
    """Entries, lots, balances and outbox events are written by the
    loyalty.ledger package alone (its one-statement form and its bulk history
    included): every use case posts through loyalty.ledger (docs/adr/0020)."""
    writes = re.compile(r"INSERT INTO (ledger_transaction|ledger_entry|outbox_event|lot)\b"
                        r"|UPDATE lot SET remaining|UPDATE account SET (available|pending)")
    offenders = []
    for package in [*DOMAIN, "api"]:
        for path in (ROOT / package).rglob("*.py"):
            if LEDGER not in path.parents and writes.search(path.read_text()):
                offenders.append(str(path.relative_to(ROOT)))
    assert offenders == []


def test_events_are_typed_classes_not_strings():
    """Producers and consumers name events by their class (loyalty/events.py),
    and payloads are serialised in one place (loyalty/events.py, and
    loyalty/ledger/statement.py, which builds the one-statement paths' JSON from
    the same events)."""
    from loyalty.events import KINDS

    kinds = re.compile("|".join(re.escape(f'"{k}"') for k in KINDS))
    offenders = []
    for package in [*DOMAIN, "api"]:
        for path in (ROOT / package).rglob("*.py"):
            text = path.read_text()
            # Templates are keyed by name, and some names are kinds'.
            if path not in (ROOT / "loyalty" / "events.py",
                            ROOT / "notifications" / "templates.py") and kinds.search(text):
                offenders.append(str(path.relative_to(ROOT)))
            if path != LEDGER / "statement.py" and "json_build_object" in text:
                offenders.append(str(path.relative_to(ROOT)))
    assert offenders == []


def test_observability_imports_neither_the_edge_nor_the_domain():
    """Every package counts into observability.metrics; it must import none of them."""
    project = {*EDGE, *DOMAIN, "migrations"}
    offenders = {str(p.relative_to(ROOT)): sorted(_imports(p) & project)
                 for p in (ROOT / "observability").rglob("*.py")}
    assert {k: v for k, v in offenders.items() if v} == {}


# A refusal becomes a payload in one place (api/mutations/base.py: user_errors);
# a documented exception would be listed here with its reason.
ONE_REFUSAL_DOOR = {ROOT / "api" / "mutations" / "base.py",
                    ROOT / "api" / "types" / "common.py"}  # where errors_of is defined


def _catches_domain_error(handler: ast.ExceptHandler) -> bool:
    caught = handler.type
    names = caught.elts if isinstance(caught, ast.Tuple) else [caught]
    return any((isinstance(n, ast.Name) and n.id in ("DomainError", "DomainErrors"))
               or (isinstance(n, ast.Attribute) and n.attr in ("DomainError", "DomainErrors"))
               for n in names)


def _returns_errors(handler: ast.ExceptHandler) -> bool:
    return any(isinstance(node, ast.Return) and isinstance(node.value, ast.Call)
               and any(k.arg == "errors" for k in node.value.keywords)
               for node in ast.walk(handler))


def test_domain_errors_become_payloads_through_the_mutation_base():
    """No resolver maps a DomainError to its payload by hand (`except DomainError:
    return XPayload(errors=errors_of(e))`): it decorates with @user_errors and
    raises, so every refusal is answered alike (null fields, declared defaults).
    Queries that raise from_domain(e) answer top-level errors, a different
    contract, and stay."""
    offenders = []
    for path in (ROOT / "api").rglob("*.py"):
        if path in ONE_REFUSAL_DOOR:
            continue
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            by_hand = (isinstance(node, ast.ExceptHandler) and _catches_domain_error(node)
                       and _returns_errors(node))
            maps = (isinstance(node, ast.Name) and node.id == "errors_of") or (
                isinstance(node, ast.alias) and node.name == "errors_of")
            if by_hand or maps:
                offenders.append(f"{path.relative_to(ROOT)}:{getattr(node, 'lineno', '?')}")
    assert offenders == []
