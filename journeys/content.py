"""Message content as data: Jinja2 templates in a sandbox.

One door for every journey text: `check` when a definition is saved (it
compiles, names only the contract's placeholders, and cannot be made to
burn CPU or memory at send time), `render` when a message is sent.

The sandbox stops attribute tricks (`customer.__class__`); what it does
not stop, a template that loops or multiplies its way to gigabytes, is
refused at save: no calls, macros, includes, `*` or `**`, loops nested at
most twice (over the trigger's lists), integer literals up to 10,000.
"""

from __future__ import annotations

from collections.abc import Iterator

from jinja2 import StrictUndefined, TemplateSyntaxError, meta, nodes
from jinja2.sandbox import SandboxedEnvironment

# Placeholder -> its allowed attributes (None: any property, for the trigger).
OBJECTS: dict[str, frozenset[str] | None] = {
    "customer": frozenset({"first_name"}),
    "points": frozenset({"available", "to_next_reward"}),
    "coupon": frozenset({"code", "expires_at"}),
    "store": frozenset({"name"}),
    "trigger": None,
}
NAMES = frozenset({"next_reward", "tier", "survey_url", "unsubscribe_url"})
MAX_LITERAL = 10_000
MAX_LOOP_DEPTH = 2
_REFUSED: dict[type[nodes.Node], str] = {
    nodes.Call: "function calls are not allowed (use filters: {{ x | upper }})",
    nodes.Macro: "macros are not allowed",
    nodes.CallBlock: "macros are not allowed",
    nodes.Include: "includes are not allowed",
    nodes.Import: "imports are not allowed",
    nodes.FromImport: "imports are not allowed",
    nodes.Extends: "extends is not allowed",
    nodes.Mul: "* is not allowed",
    nodes.Pow: "** is not allowed",
}


def _environment(autoescape: bool) -> SandboxedEnvironment:
    return SandboxedEnvironment(undefined=StrictUndefined, autoescape=autoescape,
                                keep_trailing_newline=True)


# Email bodies are HTML: a first name or a trigger property is escaped there.
# Subjects, pushes, inbox items and SMS are plain text.
PLAIN = _environment(False)
HTML = _environment(True)


def check(text: str) -> list[str]:
    """What is wrong with a template's text (empty if nothing is)."""
    try:
        tree = PLAIN.parse(text)
        PLAIN.from_string(tree)  # unknown filters and tests fail here
    except TemplateSyntaxError as exc:
        return [f"does not compile: {exc.message} (line {exc.lineno})"]
    problems: list[str] = []
    free = meta.find_undeclared_variables(tree)
    for node, parent, loops in _walk(tree, None, 0):
        refused = _REFUSED.get(type(node))
        if refused:
            problems.append(refused)
        elif isinstance(node, nodes.For) and loops > MAX_LOOP_DEPTH:
            problems.append(f"loops nest at most {MAX_LOOP_DEPTH} deep")
        elif isinstance(node, nodes.Const) and isinstance(node.value, int) \
                and abs(node.value) > MAX_LITERAL:
            problems.append(f"numbers in templates are at most {MAX_LITERAL}")
        elif isinstance(node, nodes.Name) and node.ctx == "load" and node.name in free:
            unknown = _unknown(node.name, parent, node)
            if unknown:
                problems.append(f"unknown placeholder {unknown}")
    return sorted(set(problems))


def _walk(node: nodes.Node, parent: nodes.Node | None, loops: int
          ) -> Iterator[tuple[nodes.Node, nodes.Node | None, int]]:
    loops += isinstance(node, nodes.For)
    yield node, parent, loops
    for child in node.iter_child_nodes():
        yield from _walk(child, node, loops)


def _unknown(name: str, parent: nodes.Node | None, node: nodes.Name) -> str | None:
    """The placeholder as written if it is not one of the contract's."""
    attribute = None
    if isinstance(parent, nodes.Getattr) and parent.node is node:
        attribute = parent.attr
    elif isinstance(parent, nodes.Getitem) and parent.node is node \
            and isinstance(parent.arg, nodes.Const) and isinstance(parent.arg.value, str):
        attribute = parent.arg.value
    if name in NAMES:
        return None
    if name not in OBJECTS:
        return name if attribute is None else f"{name}.{attribute}"
    allowed = OBJECTS[name]
    if attribute is None:
        return f"{name} (name one of its fields: {name}.<field>)"
    if allowed is not None and attribute not in allowed:
        return f"{name}.{attribute}"
    return None


def placeholders_help() -> str:
    """The allowed placeholders, for error messages and the editor."""
    fields = [f"{obj}.{attr}" for obj, attrs in OBJECTS.items() for attr in sorted(attrs or ())]
    return ", ".join(sorted([*fields, "trigger.<property>", *NAMES]))

