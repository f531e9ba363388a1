"""The journeys shipped as templates (`journeyTemplates`): definitions as
data, in the contract's grammar, that a marketer copies and edits. Each one
validates (tests/unit/test_journey_templates.py walks each end to end).

Amounts are in euros and texts in French and English, the programme's
defaults; a marketer edits both in the copy.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class JourneyTemplate:
    key: str
    name: str
    description: str
    definition: dict[str, Any]


def _text(fr_title: str | None, fr: str, en_title: str | None, en: str) -> dict[str, Any]:
    def one(title: str | None, body: str) -> dict[str, str]:
        return {"body": body} if title is None else {"title": title, "body": body}

    return {"fr": one(fr_title, fr), "en": one(en_title, en)}


def _message(channel: str, fallback: list[str], content: dict[str, Any], nxt: str
             ) -> dict[str, Any]:
    return {"type": "message", "channel": channel, "fallback": fallback, "content": content,
            "next": nxt}


EXIT = {"type": "exit"}

DURANT = {
    "trigger": {"event": "purchase", "where": {"channel": "WEB"}},
    "reentry": "afterExit",
    "goal": {"event": "coupon_redeemed"},
    "start": "thanks",
    "steps": {
        "thanks": _message("EMAIL", ["PUSH", "INBOX"], _text(
            "Merci pour votre commande",
            "Bonjour {{ customer.first_name }}, merci pour votre commande "
            "{{ trigger.receiptId }}. Vous avez maintenant {{ points.available }} points.",
            "Thank you for your order",
            "Hello {{ customer.first_name }}, thank you for your order "
            "{{ trigger.receiptId }}. You now have {{ points.available }} points."), "later"),
        "later": {"type": "wait", "duration": "P14D", "next": "survey"},
        "survey": _message("EMAIL", ["PUSH", "INBOX"], _text(
            "Votre avis compte",
            "{{ customer.first_name }}, que pensez-vous de votre commande ? Répondez en une "
            "minute et recevez un bon de 10 % : {{ survey_url }}",
            "Tell us what you think",
            "{{ customer.first_name }}, how was your order? Answer in a minute and get a 10% "
            "coupon: {{ survey_url }}"), "answered"),
        "answered": {"type": "waitFor", "event": "survey_submitted",
                     "match": {"receiptId": "{{ trigger.receiptId }}"},
                     "timeout": "P7D", "next": "coupon", "timeoutNext": "end"},
        "coupon": {"type": "issueCoupon", "percentOff": 10, "validFor": "P30D",
                   "channels": ["WEB", "STORE"], "remindBefore": "P3D",
                   "title": "-10 % merci pour votre avis", "next": "coupon_sent"},
        "coupon_sent": _message("EMAIL", ["PUSH", "INBOX"], _text(
            "Votre bon de 10 %",
            "Merci {{ customer.first_name }} ! Votre code {{ coupon.code }} vous donne 10 % en "
            "ligne ou en magasin jusqu'au {{ coupon.expires_at }}.",
            "Your 10% coupon",
            "Thank you {{ customer.first_name }}! Your code {{ coupon.code }} gives you 10% off "
            "online or in store until {{ coupon.expires_at }}."), "redeem"),
        # The run stays while the coupon is valid, so that redeeming it converts.
        "redeem": {"type": "wait", "duration": "P30D", "next": "end"},
        "end": EXIT,
    },
}

CART = {
    "trigger": {"event": "cart_updated"},
    "reentry": "afterExit",
    "goal": {"event": "purchase"},
    "start": "checkout",
    "steps": {
        # An hour to check out this cart before anything is said.
        "checkout": {"type": "waitFor", "event": "checkout_started",
                     "match": {"cartId": "{{ trigger.cartId }}"},
                     "timeout": "PT1H", "next": "end", "timeoutNext": "email"},
        "email": _message("EMAIL", ["PUSH", "INBOX"], _text(
            "Votre panier vous attend",
            "{{ customer.first_name }}, vos articles sont toujours dans votre panier.",
            "Your basket is waiting",
            "{{ customer.first_name }}, your items are still in your basket."), "day"),
        "day": {"type": "wait", "duration": "P1D", "next": "push"},
        "push": _message("PUSH", ["INBOX"], _text(
            "Toujours tenté ?", "Votre panier est gardé au chaud, {{ customer.first_name }}.",
            "Still thinking?", "We kept your basket, {{ customer.first_name }}."), "nearby"),
        # The server's `checkin` is a visit the geofence accepted (a DWELL or a
        # beacon confirmed it; kind "VISIT"): an ENTER alone writes no event.
        "nearby": {"type": "waitFor", "event": "checkin", "match": {"kind": "VISIT"},
                   "timeout": "P7D", "next": "offer", "timeoutNext": "end"},
        "offer": {"type": "issueCoupon", "percentOff": 10, "validFor": "P2D",
                  "channels": ["STORE"], "title": "-10 % en magasin", "next": "sms"},
        "sms": _message("SMS", [], _text(
            None, "{{ customer.first_name }}, vous êtes près de {{ store.name }} : -10 % sur "
                  "votre panier avec le code {{ coupon.code }} jusqu'au {{ coupon.expires_at }}.",
            None, "{{ customer.first_name }}, you are near {{ store.name }}: 10% off your "
                  "basket with code {{ coupon.code }} until {{ coupon.expires_at }}."), "end"),
        "end": EXIT,
    },
}

_SAME_PRODUCT = {"event": "product_viewed", "where": {"sku": "{{ trigger.sku }}"},
                 "within": "P7D"}
SECOND_VIEW = {
    "trigger": {"event": "product_viewed"},
    "reentry": "afterExit",
    "goal": {"event": "purchase"},
    "start": "second",
    "steps": {
        # Exactly the second view within a week: the third gets nothing more.
        "second": {"type": "branch",
                   "if": {"all": [{**_SAME_PRODUCT, "gte": 2},
                                  {"not": {**_SAME_PRODUCT, "gte": 3}}]},
                   "then": "coupon", "else": "end"},
        # WEB: the online shop's tills, where the app's orders are taken too
        # (a coupon's channels are the tills': STORE, WEB, PHONE).
        "coupon": {"type": "issueCoupon", "percentOff": 15, "validFor": "P3D",
                   "channels": ["WEB"], "title": "-15 % sur votre coup de cœur",
                   "next": "push"},
        "push": _message("PUSH", ["INBOX", "EMAIL"], _text(
            "Un petit coup de pouce",
            "{{ customer.first_name }}, -15 % sur ce produit avec {{ coupon.code }} jusqu'au "
            "{{ coupon.expires_at }}.",
            "A little nudge",
            "{{ customer.first_name }}, 15% off that product with {{ coupon.code }} until "
            "{{ coupon.expires_at }}."), "window"),
        "window": {"type": "wait", "duration": "P3D", "next": "end"},
        "end": EXIT,
    },
}

WELCOME = {
    "trigger": {"event": "signed_up"},
    "reentry": "never",
    "goal": {"event": "purchase"},
    "start": "welcome",
    "steps": {
        "welcome": _message("PREFERRED", ["EMAIL", "PUSH", "INBOX"], _text(
            "Bienvenue {{ customer.first_name }}",
            "Votre carte est prête : chaque achat, en ligne ou en magasin, vous rapporte des "
            "points.",
            "Welcome {{ customer.first_name }}",
            "Your card is ready: every purchase, online or in store, earns you points."),
            "two_days"),
        "two_days": {"type": "wait", "duration": "P2D", "next": "ten"},
        "ten": {"type": "wait", "until": {"localTime": "10:00"}, "next": "how"},
        "how": _message("PUSH", ["INBOX"], _text(
            "Comment gagner plus",
            "Vous avez {{ points.available }} points{% if next_reward is defined %}, encore "
            "{{ points.to_next_reward }} pour {{ next_reward }}{% endif %}.",
            "How to earn more",
            "You have {{ points.available }} points{% if next_reward is defined %}, "
            "{{ points.to_next_reward }} more for {{ next_reward }}{% endif %}."), "week"),
        "week": {"type": "wait", "duration": "P5D", "next": "bought"},
        "bought": {"type": "branch", "if": {"purchases": {"gte": 1, "within": "P7D"}},
                   "then": "end", "else": "gift"},
        "gift": {"type": "issueCoupon", "amountOff": {"amountMinor": 500, "currency": "EUR"},
                 "validFor": "P14D", "channels": ["STORE", "WEB"], "remindBefore": "P3D",
                 "title": "5 € de bienvenue", "next": "gift_sent"},
        "gift_sent": _message("PREFERRED", ["EMAIL", "PUSH", "INBOX"], _text(
            "5 € pour votre premier achat",
            "{{ customer.first_name }}, le code {{ coupon.code }} vous offre 5 € jusqu'au "
            "{{ coupon.expires_at }}.",
            "5 EUR off your first purchase",
            "{{ customer.first_name }}, code {{ coupon.code }} takes 5 EUR off until "
            "{{ coupon.expires_at }}."), "window"),
        "window": {"type": "wait", "duration": "P14D", "next": "end"},
        "end": EXIT,
    },
}

WIN_BACK = {
    "trigger": {"schedule": "RRULE:FREQ=WEEKLY;BYDAY=TU;BYHOUR=10"},
    "audience": {"rfm": ["AT_RISK"]},
    "reentry": {"after": "P90D"},
    "holdoutPercent": 10,
    "goal": {"event": "purchase"},
    "start": "ab",
    "steps": {
        "ab": {"type": "split", "arms": [{"name": "coupon", "percent": 50, "next": "coupon"},
                                         {"name": "points", "percent": 50, "next": "points"}]},
        "coupon": {"type": "issueCoupon", "percentOff": 20, "validFor": "P14D",
                   "channels": ["STORE", "WEB"], "remindBefore": "P3D",
                   "title": "-20 % pour votre retour", "next": "coupon_sent"},
        "coupon_sent": _message("PREFERRED", ["EMAIL", "PUSH", "INBOX"], _text(
            "Vous nous manquez",
            "{{ customer.first_name }}, -20 % avec {{ coupon.code }} jusqu'au "
            "{{ coupon.expires_at }}.",
            "We miss you",
            "{{ customer.first_name }}, 20% off with {{ coupon.code }} until "
            "{{ coupon.expires_at }}."), "window"),
        "points": {"type": "awardPoints", "points": 200, "reason": "Vous nous manquez",
                   "next": "points_sent"},
        "points_sent": _message("PREFERRED", ["EMAIL", "PUSH", "INBOX"], _text(
            "200 points pour vous",
            "{{ customer.first_name }}, 200 points offerts : vous en avez "
            "{{ points.available }}.",
            "200 points for you",
            "{{ customer.first_name }}, 200 points on us: you now have "
            "{{ points.available }}."), "window"),
        "window": {"type": "wait", "duration": "P14D", "next": "end"},
        "end": EXIT,
    },
}

TEMPLATES = (
    JourneyTemplate("durant_post_purchase", "Post-purchase: thanks, survey, coupon",
                    "After a web purchase: a thank-you email, a survey two weeks later, and a "
                    "10% coupon valid online and in store for answering it, with a reminder "
                    "three days before it expires.", DURANT),
    JourneyTemplate("cart_abandonment", "Abandoned basket",
                    "A basket not checked out within the hour: an email, a push the next "
                    "day, then an SMS with a store offer when the customer comes near a "
                    "store within the week.", CART),
    JourneyTemplate("second_product_view", "Second look, small discount",
                    "The second view of the same product within a week earns a 15% coupon "
                    "for it, online (the web shop, where the app's orders go too).", SECOND_VIEW),
    JourneyTemplate("welcome_series", "Welcome series",
                    "A welcome on the preferred channel, how points work two days later at "
                    "10:00, and 5 EUR off if there is no purchase within a week.", WELCOME),
    JourneyTemplate("win_back_at_risk", "Win back customers at risk",
                    "Every Tuesday at 10:00, customers newly AT_RISK get either a 20% coupon "
                    "or 200 points (an A/B test), with a 10% holdout to measure the uplift.",
                    WIN_BACK),
)


def journey_templates() -> list[JourneyTemplate]:
    """The shipped templates, each a fresh copy for the caller to edit."""
    return [JourneyTemplate(t.key, t.name, t.description, copy.deepcopy(t.definition))
            for t in TEMPLATES]


def template(key: str) -> JourneyTemplate | None:
    return next((t for t in journey_templates() if t.key == key), None)
