"""Emails about the account itself: a password reset (or, for an imported
customer, the link that claims the account) and an email verification.

Sent after the token's transaction commits, by the request that asked, because
the token must not be stored in clear anywhere (an outbox row would hold a
usable credential); a failure to send is logged and the request still
answers as if it were sent, so that nobody learns which emails exist."""

from __future__ import annotations

import logging

from loyalty.identity import email_tokens
from loyalty.identity.email_tokens import Issued
from loyalty.platform.config import get_settings
from notifications.email import Email, EmailSender, sender_from_settings
from notifications.templates import language

log = logging.getLogger(__name__)

_TEXTS = {
    "reset": {
        "en": ("Reset your password",
               "Hello {name},\n\nTo choose a new password, open this link within {minutes} "
               "minutes:\n{link}\n\nIf you did not ask for it, ignore this email."),
        "fr": ("Réinitialisez votre mot de passe",
               "Bonjour {name},\n\nPour choisir un nouveau mot de passe, ouvrez ce lien dans "
               "les {minutes} minutes :\n{link}\n\nSi vous n'avez rien demandé, ignorez ce "
               "message."),
    },
    "claim": {
        "en": ("Your loyalty account is waiting",
               "Hello {name},\n\nYour points came with you to our new programme. To use "
               "them, choose a password within {minutes} minutes:\n{link}"),
        "fr": ("Votre compte fidélité vous attend",
               "Bonjour {name},\n\nVos points vous ont suivi dans notre nouveau programme. "
               "Pour les utiliser, choisissez un mot de passe dans les {minutes} minutes :\n"
               "{link}"),
    },
    "verify": {
        "en": ("Confirm your email", "Hello {name},\n\nConfirm your email address:\n{link}"),
        "fr": ("Confirmez votre adresse email",
               "Bonjour {name},\n\nConfirmez votre adresse email :\n{link}"),
    },
}

_sender: EmailSender | None = None


def sender() -> EmailSender:
    global _sender
    if _sender is None:
        _sender = sender_from_settings()
    return _sender


def use_sender(new: EmailSender | None) -> None:
    """Tests and settings changes: None builds it again from the settings."""
    global _sender
    _sender = new


async def _send(issued: Issued, kind: str, purpose: str) -> None:
    settings = get_settings()
    texts = _TEXTS[kind]
    subject, body = texts.get(language(issued.locale), texts["en"])
    link = f"{settings.email_link_url}?purpose={purpose}&token={issued.token}"
    email = Email(issued.email, subject, body.format(
        name=issued.first_name or "", minutes=settings.email_token_minutes, link=link))
    try:
        await sender().send(email)
    except Exception:  # noqa: BLE001 - the caller answers the same either way
        log.exception("could not send the %s email", kind)


async def send_password_reset(email: str) -> None:
    """A reset link (a claim link for an imported account) if the email is a
    customer's; nothing otherwise, and no way to tell the difference."""
    issued = await email_tokens.issue_for_email(email, email_tokens.RESET)
    if issued is not None:
        await _send(issued, "claim" if issued.claim else "reset", email_tokens.RESET)


async def send_verification(customer_id: int) -> None:
    issued = await email_tokens.issue(customer_id, email_tokens.VERIFY)
    if issued is not None:
        await _send(issued, "verify", email_tokens.VERIFY)


async def claim_instead_of_sign_up(email: str) -> bool:
    """signUp with the email of an imported account without a password: the
    claim link goes to that mailbox (only its owner may take the points)."""
    if await email_tokens.is_unclaimed(email) is None:
        return False
    await send_password_reset(email)
    return True
