"""QR rendering to SVG."""

import re
import xml.etree.ElementTree as ET

from wallet.qr import make_qr, new_qr_secret
from wallet.render import qr_svg

PAYLOAD = "912345678904.57856320.AAAQEAYE.3JGT2BPVHO62WVYY"


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def test_svg_is_xml_with_a_path() -> None:
    svg = qr_svg(PAYLOAD)
    assert isinstance(svg, str)
    assert svg.startswith(("<svg", "<?xml"))
    root = ET.fromstring(svg)
    assert _local(root.tag) == "svg"
    paths = [el for el in root.iter() if _local(el.tag) == "path"]
    assert len(paths) == 1
    assert paths[0].get("d")


def _side_and_coordinates(svg: str) -> tuple[int, list[int]]:
    root = ET.fromstring(svg)
    _, _, width, height = root.get("viewBox").split()
    assert width == height
    path = next(el for el in root.iter() if _local(el.tag) == "path")
    coordinates = [int(n) for n in re.findall(r"\d+", path.get("d"))]
    return int(width), coordinates


def test_quiet_zone_of_four_modules() -> None:
    side, coordinates = _side_and_coordinates(qr_svg(PAYLOAD))
    # A QR symbol is 17 + 4 * version modules wide, plus 4 quiet modules each side.
    assert (side - 8 - 17) % 4 == 0
    assert min(coordinates) == 4
    assert max(coordinates) == side - 4


def test_real_payload_stays_small() -> None:
    # Alphanumeric mode keeps a real code at version 3 (29 modules + quiet zone);
    # byte mode would need version 4.
    payload = make_qr("912345678904", new_qr_secret()).payload
    side, _ = _side_and_coordinates(qr_svg(payload))
    assert side <= 29 + 8


def test_different_payloads_draw_differently() -> None:
    secret = new_qr_secret()
    first = make_qr("912345678904", secret).payload
    second = make_qr("912345678904", secret).payload
    assert qr_svg(first) != qr_svg(second)
