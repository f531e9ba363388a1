"""Money as integer minor units and an ISO 4217 currency."""

from __future__ import annotations

from dataclasses import dataclass

from loyalty.errors import invalid

# Active ISO 4217 codes. Most have two decimals; the exceptions are listed below.
_TWO_DECIMALS = """
AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BMD BND BOB BRL BSD BTN BWP
BYN BZD CAD CDF CHF CNY COP CRC CUP CVE CZK DKK DOP DZD EGP ERN ETB EUR FJD FKP GBP
GEL GHS GIP GMD GTQ GYD HKD HNL HTG HUF IDR ILS INR IRR JMD KES KGS KHR KPW KYD KZT
LAK LBP LKR LRD LSL MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MYR MZN NAD NGN
NIO NOK NPR NZD PAB PEN PGK PHP PKR PLN QAR RON RSD RUB SAR SBD SCR SDG SEK SGD SHP
SLE SOS SRD SSP STN SVC SYP SZL THB TJS TMT TOP TRY TTD TWD TZS UAH USD UYU UZS VES
WST XCD YER ZAR ZMW ZWL
""".split()
_EXCEPTIONS = {
    "BIF": 0,
    "CLP": 0,
    "DJF": 0,
    "GNF": 0,
    "ISK": 0,
    "JPY": 0,
    "KMF": 0,
    "KRW": 0,
    "PYG": 0,
    "RWF": 0,
    "UGX": 0,
    "UYI": 0,
    "VND": 0,
    "VUV": 0,
    "XAF": 0,
    "XOF": 0,
    "XPF": 0,
    "BHD": 3,
    "IQD": 3,
    "JOD": 3,
    "KWD": 3,
    "LYD": 3,
    "OMR": 3,
    "TND": 3,
    "CLF": 4,
    "UYW": 4,
}
EXPONENTS: dict[str, int] = {code: 2 for code in _TWO_DECIMALS} | _EXCEPTIONS

# Far above any real basket; keeps arithmetic and 64-bit columns safe.
MAX_AMOUNT_MINOR = 10**12


@dataclass(frozen=True)
class Money:
    amount_minor: int
    currency: str

    @property
    def exponent(self) -> int:
        return EXPONENTS[self.currency]


def parse_money(amount_minor: int, currency: str, field: str, *, allow_zero: bool = False) -> Money:
    """Validate an amount from a client: positive (or zero if allowed), known currency."""
    code = currency.strip().upper() if isinstance(currency, str) else ""
    if code not in EXPONENTS:
        raise invalid(f"Unknown currency {currency!r}: use an ISO 4217 code.", f"{field}.currency")
    if amount_minor < 0 or (amount_minor == 0 and not allow_zero):
        raise invalid("The amount must be greater than zero.", f"{field}.amountMinor")
    if amount_minor > MAX_AMOUNT_MINOR:
        raise invalid("The amount is too large.", f"{field}.amountMinor")
    return Money(amount_minor, code)
