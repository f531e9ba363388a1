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

import functools
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from typing import Any

from jinja2 import StrictUndefined, Template, TemplateError, TemplateSyntaxError, meta, nodes
from jinja2.sandbox import SandboxedEnvironment, SecurityError

from journeys.steps import LANGUAGES, Channel, Content
from loyalty.platform.timezones import zone_or_utc
from notifications.templates import DEFAULT_LOCALE, format_date, format_number
from notifications.templates import language as language_of

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
MAX_OUTPUT = 100_000  # characters in one rendered text
MAX_LOOP_DEPTH = 2
# A filter call whose estimated output passes this is refused before it runs.
_FILTER_BOUND = 10 * MAX_OUTPUT
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
    # A variable set from itself doubles at each line: 30 lines, gigabytes.
    nodes.Assign: "{% set %} is not allowed",
    nodes.AssignBlock: "{% set %} is not allowed",
    nodes.With: "{% with %} is not allowed",
}


# Filters whose output size no argument bounds: printf widths ("%999999999s").
_UNBOUNDED_FILTERS = frozenset({"format"})
# Filters whose integer argument is a width added to each line.
_WIDTH_FILTERS = frozenset({"center", "indent"})


def _size(value: Any) -> int:
    if isinstance(value, str):
        return len(value)
    if isinstance(value, list | tuple | dict):
        return len(value) + sum(len(v) for v in value if isinstance(v, str))
    return len(str(value)) if isinstance(value, int | float) else 1


def _bounded(name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    """A filter that refuses, before running, a call whose output could pass
    the bound: its input's size times its longest argument (`replace("",
    big)`, `join(big)`, `center(width)`, `indent(width)`); and after
    running, any text longer than MAX_OUTPUT. Without it a chain of such
    filters built gigabytes before the length check saw the result."""
    skip = 0 if getattr(fn, "jinja_pass_arg", None) is None else 1  # the context

    @functools.wraps(fn)  # keeps Jinja's pass_context/pass_eval_context mark
    def bounded(*args: Any, **kwargs: Any) -> Any:
        if name in _UNBOUNDED_FILTERS:
            raise SecurityError(f"the {name} filter is not allowed")
        value = args[skip] if len(args) > skip else None
        rest = (*args[skip + 1:], *kwargs.values())
        widest = max((_size(a) for a in rest if isinstance(a, str | list | tuple | dict)),
                     default=0)
        if name in _WIDTH_FILTERS:
            widest += max((abs(a) for a in rest if isinstance(a, int)), default=0)
        if (_size(value) + 1) * (widest + 1) > _FILTER_BOUND:
            raise SecurityError(f"{name} would make a text longer than {MAX_OUTPUT} characters")
        out = fn(*args, **kwargs)
        if isinstance(out, str) and len(out) > MAX_OUTPUT:
            raise SecurityError(f"{name} made a text longer than {MAX_OUTPUT} characters")
        return out

    return bounded


def _environment(autoescape: bool) -> SandboxedEnvironment:
    env = SandboxedEnvironment(undefined=StrictUndefined, autoescape=autoescape,
                               keep_trailing_newline=True)
    env.filters = {name: _bounded(name, fn) for name, fn in env.filters.items()}
    return env


# Email bodies are HTML: a first name or a trigger property is escaped there.
# Subjects, pushes, inbox items and SMS are plain text.
PLAIN = _environment(False)
HTML = _environment(True)


def check(text: str) -> list[str]:
    """What is wrong with a template's text (empty if nothing is)."""
    try:
        tree = PLAIN.parse(text)
    except TemplateSyntaxError as exc:
        return [f"does not compile: {exc.message} (line {exc.lineno})"]
    problems: list[str] = []
    for node, _, loops in _walk(tree, None, 0):
        refused = _REFUSED.get(type(node))
        if refused:
            problems.append(refused)
        elif isinstance(node, nodes.For) and loops > MAX_LOOP_DEPTH:
            problems.append(f"loops nest at most {MAX_LOOP_DEPTH} deep")
        elif isinstance(node, nodes.Const) and isinstance(node.value, int) \
                and abs(node.value) > MAX_LITERAL:
            problems.append(f"numbers in templates are at most {MAX_LITERAL}")
    if problems:
        # Before anything generates code from the tree: Jinja's code generator
        # (meta's as the compiler's) folds constant expressions, so
        # `{{ 9 ** 9 ** 9 }}` or `{{ 'x' * 10 ** 9 }}` would run here.
        return sorted(set(problems))
    try:
        free = meta.find_undeclared_variables(tree)
    except TemplateSyntaxError as exc:  # an unknown filter or test
        return [f"does not compile: {exc.message} (line {exc.lineno})"]
    for node, parent, _ in _walk(tree, None, 0):
        if isinstance(node, nodes.Name) and node.ctx == "load" and node.name in free:
            unknown = _unknown(node.name, parent, node)
            if unknown:
                problems.append(f"unknown placeholder {unknown}")
    if problems:
        return sorted(set(problems))
    try:
        PLAIN.from_string(tree)  # unknown filters and tests fail here
    except TemplateSyntaxError as exc:
        return [f"does not compile: {exc.message} (line {exc.lineno})"]
    except (ValueError, OverflowError, RecursionError) as exc:
        return [f"does not compile: {exc}"]
    return []


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


@dataclass(frozen=True)
class Values:
    """What a message may say about its customer, read by the caller at send
    time (from the ledger, the coupon the run issued, the store). None: not
    known for this customer, and a template printing it fails to render."""

    first_name: str
    points_available: int | None = None
    points_to_next_reward: int | None = None
    next_reward: str | None = None
    tier: str | None = None
    coupon_code: str | None = None
    coupon_expires_at: datetime | None = None
    store_name: str | None = None
    trigger: Mapping[str, Any] = field(default_factory=dict)
    survey_url: str | None = None
    unsubscribe_url: str | None = None
    timezone: str | None = None  # the customer's, for dates; UTC when unset or unknown


@dataclass(frozen=True)
class Rendered:
    language: str
    title: str | None
    body: str


class RenderError(ValueError):
    """A template that cannot be rendered for this customer (a value it
    prints is missing, or the sandbox refused an operation): the message
    is suppressed with this reason, never sent half-filled."""


def choose_language(content: Mapping[str, Content], locale: str | None) -> str:
    """The customer's language if the content has it, else the other one."""
    wanted = language_of(locale)
    if wanted in content:
        return wanted
    # Neither French nor English: the programme's default, English, first.
    return next(lang for lang in (DEFAULT_LOCALE, *LANGUAGES, *content) if lang in content)


def render(content: Mapping[str, Content], channel: Channel, locale: str | None,
           values: Values) -> Rendered:
    """A message step's content for one customer on one (resolved) channel."""
    if channel == Channel.PREFERRED:
        raise ValueError("resolve PREFERRED to a channel before rendering")
    lang = choose_language(content, locale)
    chosen = content[lang]
    context = _context(values, lang)
    title = None if chosen.title is None else _render(chosen.title, False, context)
    # An email's body is HTML: what the customer or an event supplied is escaped.
    body = _render(chosen.body, channel == Channel.EMAIL, context)
    return Rendered(lang, title, body)


@lru_cache(maxsize=1024)
def _compiled(text: str, html: bool) -> Template:
    return (HTML if html else PLAIN).from_string(text)


def _render(text: str, html: bool, context: Mapping[str, Any]) -> str:
    too_long = RenderError(f"longer than {MAX_OUTPUT} characters once rendered")
    parts: list[str] = []
    size = 0
    try:
        # Streamed, so that loops over an event's lists stop at the limit
        # instead of building the whole text first.
        for part in _compiled(text, html).generate(context):
            size += len(part)
            if size > MAX_OUTPUT:
                raise too_long
            parts.append(part)
    except RenderError:
        raise
    except TemplateError as exc:  # undefined values, sandbox refusals
        raise RenderError(exc.message or type(exc).__name__) from None
    except (ArithmeticError, TypeError, ValueError, LookupError) as exc:
        # The template meeting this event's values: 10 / trigger.n with n 0,
        # a string rounded. This message, not the worker's batch, fails.
        raise RenderError(f"{type(exc).__name__}: {exc}"[:200]) from None
    return "".join(parts)


def _context(values: Values, lang: str) -> dict[str, Any]:
    def known(name: str, value: Any) -> Any:
        # A missing value names itself when printed: "coupon.code is undefined".
        return PLAIN.undefined(name=name) if value is None else value

    def number(value: int | None) -> str | None:
        return None if value is None else format_number(value, lang)

    expires = values.coupon_expires_at
    expires_day = None if expires is None else \
        format_date(expires.astimezone(zone_or_utc(values.timezone)).date(), lang)
    return {
        "customer": {"first_name": values.first_name},
        "points": {
            "available": known("points.available", number(values.points_available)),
            "to_next_reward": known("points.to_next_reward",
                                    number(values.points_to_next_reward)),
        },
        "next_reward": known("next_reward", values.next_reward),
        "tier": known("tier", values.tier),
        "coupon": {"code": known("coupon.code", values.coupon_code),
                   "expires_at": known("coupon.expires_at", expires_day)},
        "store": {"name": known("store.name", values.store_name)},
        "trigger": dict(values.trigger),
        "survey_url": known("survey_url", values.survey_url),
        "unsubscribe_url": known("unsubscribe_url", values.unsubscribe_url),
    }
