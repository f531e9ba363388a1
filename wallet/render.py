"""QR rendering: a payload drawn as a standalone SVG document."""

from __future__ import annotations

import qrcode
import qrcode.constants
import qrcode.image.svg

# Four modules of quiet zone is the minimum the QR standard asks for; less
# makes some scanners miss the code on a busy background.
_BORDER_MODULES = 4


def qr_svg(payload: str) -> str:
    """Return ``payload`` as a QR code in an SVG document (one <path>, no XML declaration).

    Error correction M survives a scratched or glare-spotted phone screen
    while keeping our alphanumeric payloads at version 3 (29x29 modules).
    """
    qr = qrcode.QRCode(
        error_correction=qrcode.constants.ERROR_CORRECT_M,
        border=_BORDER_MODULES,
        image_factory=qrcode.image.svg.SvgPathImage,
    )
    qr.add_data(payload)
    qr.make(fit=True)
    image = qr.make_image(image_factory=qrcode.image.svg.SvgPathImage)
    # encoding="unicode" makes ElementTree return str without an XML declaration.
    return image.to_string(encoding="unicode")
