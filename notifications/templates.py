"""Message templates per event kind and locale, filled from the ledger at send time.

Placeholders are checked when the templates load: a typo in a template fails
at start-up, never in a customer's notification at 3 a.m.

A part of a template in square brackets is optional: it is left out when one
of its placeholders has no value. That is how one template reads well with or
without a store, a next reward to aim for, points expiring soon or an offer,
instead of one template per combination. Brackets do not nest.
"""

from __future__ import annotations

import re
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
        "next_reward",
        "next_tier",
        "expiring_points",
        "expiring_date",
        "coupon",
        "reward",
        "offer",
        "tier",
        "previous_tier",
        # Where a store without a place is: "online" or "by phone", in the
        # reader's language (WHERE), instead of "at <store name>".
        "where",
        # Why customer service adjusted the balance (adjustPoints' reason).
        "reason",
    }
)
NUMBERS = frozenset({"points", "balance", "points_to_next", "expiring_points"})
DEFAULT_LOCALE = "en"
# The `where` placeholder's values (loyalty.models.StoreKind) per language.
WHERE = {
    "en": {"ONLINE": "online", "CALL_CENTRE": "by phone"},
    "fr": {"ONLINE": "en ligne", "CALL_CENTRE": "par téléphone"},
}


class TemplateError(ValueError):
    """A template names a placeholder that no event provides, or is malformed."""


@dataclass(frozen=True)
class Part:
    text: str
    optional: bool
    names: frozenset[str]


@dataclass(frozen=True)
class Template:
    title: tuple[Part, ...]
    body: tuple[Part, ...]


@dataclass(frozen=True)
class Rendered:
    title: str
    body: str


# Sentences added to several kinds' bodies, when the values are there. The
# ledger-derived ones: the nearer of the next reward and the next tier
# (notifications.personalise fills only one), points expiring soon.
_NEXT_EN = (
    "[. {points_to_next} more points for {next_reward}]"
    "[. {points_to_next} more points to reach {next_tier}]"
)
_NEXT_FR = (
    "[. Encore {points_to_next} points pour {next_reward}]"
    "[. Encore {points_to_next} points pour atteindre le niveau {next_tier}]"
)
_EXPIRING_EN = "[. {expiring_points} points expire on {expiring_date}]"
_EXPIRING_FR = "[. {expiring_points} points expirent le {expiring_date}]"

# kind -> language -> template.
TEMPLATES: dict[str, dict[str, tuple[str, str]]] = {
    "points.earned": {
        "en": (
            "+{points} points",
            "{first_name}, +{points} points[ at {store}][ {where}], {balance} in all" + _NEXT_EN
            + _EXPIRING_EN,
        ),
        "fr": (
            "+{points} points",
            "{first_name}, +{points} points[ à {store}][ {where}], {balance} au total" + _NEXT_FR
            + _EXPIRING_FR,
        ),
    },
    "points.redeemed": {
        "en": (
            "{points} points spent",
            "{first_name}, you spent {points} points[ at {store}][ {where}]. {balance} left"
            + _NEXT_EN + _EXPIRING_EN,
        ),
        "fr": (
            "{points} points utilisés",
            "{first_name}, vous avez utilisé {points} points[ à {store}][ {where}]. "
            "Il vous en reste {balance}" + _NEXT_FR + _EXPIRING_FR,
        ),
    },
    # points.redeemed of a reward bought in the app (see
    # notifications.personalise.template_for): no store, a coupon instead.
    "reward.redeemed": {
        "en": (
            "You got {reward}",
            "{first_name}, your coupon is ready: {points} points spent, {balance} left" + _NEXT_EN,
        ),
        "fr": (
            "Vous avez obtenu {reward}",
            "{first_name}, votre bon est prêt : {points} points utilisés, "
            "il vous en reste {balance}" + _NEXT_FR,
        ),
    },
    "visit.accepted": {
        "en": (
            "Welcome to {store}, {first_name}",
            "Thanks for coming in: +{points} points for your visit, {balance} in all"
            + _NEXT_EN + "[. In store: {offer}]",
        ),
        "fr": (
            "Bienvenue à {store}, {first_name}",
            "Merci de votre visite : +{points} points, {balance} au total"
            + _NEXT_FR + "[. En magasin : {offer}]",
        ),
    },
    # visit.accepted without points (the day's reward already given).
    "visit.welcome": {
        "en": (
            "Welcome to {store}, {first_name}",
            "You have {balance} points" + _NEXT_EN + "[. In store: {offer}]",
        ),
        "fr": (
            "Bienvenue à {store}, {first_name}",
            "Vous avez {balance} points" + _NEXT_FR + "[. En magasin : {offer}]",
        ),
    },
    "points.expired": {
        "en": (
            "{points} points expired",
            "{first_name}, {points} points reached their expiry date. You have {balance} points.",
        ),
        "fr": (
            "{points} points expirés",
            "{first_name}, {points} points ont atteint leur date d'expiration. Il vous en reste "
            "{balance}.",
        ),
    },
    "points.expiring": {
        "en": (
            "Your points expire soon",
            "{first_name}, {points} points expire on {expiring_date}: use them before then",
        ),
        "fr": (
            "Vos points expirent bientôt",
            "{first_name}, {points} points expirent le {expiring_date} : utilisez-les d'ici là",
        ),
    },
    "coupon.expiring": {
        "en": (
            "Your coupon expires soon",
            "{first_name}, {coupon} expires on {expiring_date}: use it before then",
        ),
        "fr": (
            "Votre bon expire bientôt",
            "{first_name}, {coupon} expire le {expiring_date} : utilisez-le d'ici là",
        ),
    },
    # tier.changed, by direction (see notifications.personalise.template_for).
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
    # points.adjusted, by sign (see notifications.personalise.template_for):
    # customer service's correction, with the reason its agent gave.
    "points.adjusted": {
        "en": (
            "+{points} points added",
            "{first_name}, customer service added {points} points[: {reason}]. "
            "You have {balance} points",
        ),
        "fr": (
            "+{points} points ajoutés",
            "{first_name}, le service client vous a ajouté {points} points[ : {reason}]. "
            "Vous avez {balance} points",
        ),
    },
    "points.adjusted.down": {
        "en": (
            "{points} points removed",
            "{first_name}, customer service removed {points} points[: {reason}]. "
            "You have {balance} points",
        ),
        "fr": (
            "{points} points retirés",
            "{first_name}, le service client a retiré {points} points[ : {reason}]. "
            "Il vous en reste {balance}",
        ),
    },
    "points.refunded": {
        "en": (
            "{points} points returned",
            "{first_name}, a refund[ at {store}][ {where}] took back {points} points, "
            "{balance} in all",
        ),
        "fr": (
            "{points} points repris",
            "{first_name}, un remboursement[ à {store}][ {where}] a repris {points} points, "
            "{balance} au total",
        ),
    },
}


def placeholders(text: str) -> set[str]:
    try:
        return {name for _, name, _, _ in string.Formatter().parse(text) if name is not None}
    except ValueError as exc:
        raise TemplateError(f"malformed template {text!r}: {exc}") from None


_OPTIONAL = re.compile(r"\[([^\[\]]*)\]")


def parts(text: str) -> tuple[Part, ...]:
    """`text` cut into its fixed and optional (bracketed) parts."""
    found: list[Part] = []
    at = 0
    for match in _OPTIONAL.finditer(text):
        found.append(Part(text[at : match.start()], False, frozenset()))
        found.append(Part(match.group(1), True, frozenset()))
        at = match.end()
    found.append(Part(text[at:], False, frozenset()))
    for part in found:
        if not part.optional and ("[" in part.text or "]" in part.text):
            raise TemplateError(f"unbalanced or nested [ ] in template {text!r}")
    return tuple(
        Part(p.text, p.optional, frozenset(placeholders(p.text))) for p in found if p.text
    )


def load(raw: Mapping[str, Mapping[str, tuple[str, str]]]) -> dict[str, dict[str, Template]]:
    """Check and build templates; raises TemplateError on an unknown placeholder,
    malformed braces or brackets, or a kind without an English version (the fallback)."""
    loaded: dict[str, dict[str, Template]] = {}
    for kind, by_locale in raw.items():
        if DEFAULT_LOCALE not in by_locale:
            raise TemplateError(f"{kind}: an {DEFAULT_LOCALE!r} template is required")
        loaded[kind] = {}
        for locale, (title, body) in by_locale.items():
            template = Template(parts(title), parts(body))
            used = {name for part in template.title + template.body for name in part.names}
            unknown = used - ALLOWED
            if unknown:
                raise TemplateError(f"{kind}/{locale}: unknown placeholder(s) {sorted(unknown)}")
            loaded[kind][locale] = template
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


def _fill(template: tuple[Part, ...], filled: Mapping[str, str]) -> str:
    return "".join(
        part.text.format(**filled)
        for part in template
        if not part.optional or all(filled[name] for name in part.names)
    )


def render(kind: str, locale: str | None, values: Mapping[str, Any]) -> Rendered:
    """The message for `kind` in the customer's language, English when their
    language has no template; numbers and dates formatted for that language.
    A value that is None or empty leaves out the optional parts naming it."""
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
        elif name == "where":
            words = WHERE.get(used, WHERE[DEFAULT_LOCALE])
            filled[name] = words.get(str(value), WHERE[DEFAULT_LOCALE].get(str(value), ""))
        elif value is not None:
            filled[name] = str(value)
    return Rendered(_fill(template.title, filled), _fill(template.body, filled))
