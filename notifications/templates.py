"""Message templates per event kind and locale, filled from the event at send time.

Placeholders are checked when the templates load: a typo in a template fails
at start-up, never in a customer's notification at 3 a.m.
"""

from __future__ import annotations

import string
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

ALLOWED = frozenset(
    {
        "first_name",
        "points",
        "balance",
        "store",
        "points_to_next",
        "expiring_points",
        "expiring_date",
        "coupon",
        "tier",
        "previous_tier",
    }
)
NUMBERS = frozenset({"points", "balance", "points_to_next", "expiring_points"})
DEFAULT_LOCALE = "en"


class TemplateError(ValueError):
    """A template names a placeholder that no event provides, or is malformed."""


@dataclass(frozen=True)
class Template:
    title: str
    body: str


@dataclass(frozen=True)
class Rendered:
    title: str
    body: str


# kind -> language -> template. {store} is empty when the event has no store.
TEMPLATES: dict[str, dict[str, tuple[str, str]]] = {
    "points.earned": {
        "en": ("+{points} points", "+{points} points at {store}, {balance} in all"),
        "fr": ("+{points} points", "+{points} points à {store}, {balance} au total"),
    },
    "points.redeemed": {
        "en": (
            "{points} points spent",
            "{first_name}, you spent {points} points at {store}. {balance} left",
        ),
        "fr": (
            "{points} points utilisés",
            "{first_name}, vous avez utilisé {points} points à {store}. Il vous en reste {balance}",
        ),
    },
    "visit.accepted": {
        "en": (
            "Welcome to {store}, {first_name}",
            "Thanks for coming in: +{points} points for your visit, {balance} in all",
        ),
        "fr": (
            "Bienvenue à {store}, {first_name}",
            "Merci de votre visite : +{points} points, {balance} au total",
        ),
    },
    "visit.welcome": {
        "en": ("Welcome to {store}, {first_name}", "You have {balance} points."),
        "fr": ("Bienvenue à {store}, {first_name}", "Vous avez {balance} points."),
    },
    "points.expired": {
        "en": (
            "{points} points expired",
            "{points} points reached their expiry date. You have {balance} points.",
        ),
        "fr": (
            "{points} points expirés",
            "{points} points ont atteint leur date d'expiration. Il vous en reste {balance}.",
        ),
    },
    "points.expiring": {
        "en": (
            "Your points expire soon",
            "{points} points expire on {expiring_date}: use them before then",
        ),
        "fr": (
            "Vos points expirent bientôt",
            "{points} points expirent le {expiring_date} : utilisez-les d'ici là",
        ),
    },
    "coupon.expiring": {
        "en": (
            "Your coupon expires soon",
            "{coupon} expires on {expiring_date}: use it before then",
        ),
        "fr": (
            "Votre bon expire bientôt",
            "{coupon} expire le {expiring_date} : utilisez-le d'ici là",
        ),
    },
    # tier.changed, by direction (see notifications.worker._template_for).
    "tier.up": {
        "en": ("Welcome to {tier}", "Congratulations {first_name}, you are now {tier}."),
        "fr": (
            "Bienvenue au niveau {tier}",
            "Félicitations {first_name}, vous êtes désormais {tier}.",
        ),
    },
    "tier.down": {
        "en": ("Your tier is now {tier}", "{first_name}, your tier is now {tier}."),
        "fr": (
            "Votre niveau est désormais {tier}",
            "{first_name}, votre niveau est désormais {tier}.",
        ),
    },
    "tier.lost": {
        "en": (
            "Your {previous_tier} status has ended",
            "{first_name}, earn points to reach a tier again.",
        ),
        "fr": (
            "Votre statut {previous_tier} a pris fin",
            "{first_name}, cumulez des points pour retrouver un niveau.",
        ),
    },
    "points.refunded": {
        "en": (
            "{points} points returned",
            "A refund at {store} took back {points} points, {balance} in all",
        ),
        "fr": (
            "{points} points repris",
            "Un remboursement à {store} a repris {points} points, {balance} au total",
        ),
    },
}


def placeholders(text: str) -> set[str]:
    try:
        return {name for _, name, _, _ in string.Formatter().parse(text) if name is not None}
    except ValueError as exc:
        raise TemplateError(f"malformed template {text!r}: {exc}") from None


def load(raw: Mapping[str, Mapping[str, tuple[str, str]]]) -> dict[str, dict[str, Template]]:
    """Check and build templates; raises TemplateError on an unknown placeholder
    or a kind without an English version (the fallback)."""
    loaded: dict[str, dict[str, Template]] = {}
    for kind, by_locale in raw.items():
        if DEFAULT_LOCALE not in by_locale:
            raise TemplateError(f"{kind}: an {DEFAULT_LOCALE!r} template is required")
        loaded[kind] = {}
        for locale, (title, body) in by_locale.items():
            unknown = (placeholders(title) | placeholders(body)) - ALLOWED
            if unknown:
                raise TemplateError(f"{kind}/{locale}: unknown placeholder(s) {sorted(unknown)}")
            loaded[kind][locale] = Template(title, body)
    return loaded


_LOADED = load(TEMPLATES)


def language(locale: str | None) -> str:
    return (locale or DEFAULT_LOCALE).replace("_", "-").split("-")[0].lower()


def format_number(value: int, locale: str | None) -> str:
    grouped = f"{value:,}"
    if language(locale) == "fr":
        # French groups thousands with a narrow no-break space (U+202F).
        return grouped.replace(",", "\u202f")
    return grouped


MONTHS = {
    "en": (
        "January February March April May June July August September October "
        "November December"
    ).split(),
    "fr": (
        "janvier février mars avril mai juin juillet août septembre octobre "
        "novembre décembre"
    ).split(),
}


def format_date(value: date, locale: str | None) -> str:
    """A day as people write it: "2 December", "2 décembre" (the year only
    when the reader could mistake it, which a reminder weeks ahead never is)."""
    months = MONTHS.get(language(locale), MONTHS[DEFAULT_LOCALE])
    return f"{value.day} {months[value.month - 1]}"


def has_template(kind: str) -> bool:
    return kind in _LOADED


def render(kind: str, locale: str | None, values: Mapping[str, Any]) -> Rendered:
    """The message for `kind` in the customer's language, English when their
    language has no template; numbers formatted for that language."""
    by_locale = _LOADED[kind]
    lang = language(locale)
    template = by_locale.get(lang) or by_locale[DEFAULT_LOCALE]
    used = lang if lang in by_locale else DEFAULT_LOCALE
    filled = {name: "" for name in ALLOWED}
    for name, value in values.items():
        if name in NUMBERS and isinstance(value, int):
            filled[name] = format_number(value, used)
        elif isinstance(value, date):
            filled[name] = format_date(value, used)
        elif value is not None:
            filled[name] = str(value)
    return Rendered(template.title.format(**filled), template.body.format(**filled))
