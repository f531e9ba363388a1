"""Polygon geofences as pure geometry: inside, distance outside, the enclosing
circle, and the outline checks, anywhere on the globe."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from geofence import polygon
from geofence.nearby import EARTH_RADIUS_M, haversine_m
from loyalty.errors import DomainError


def destination(lat: float, lon: float, bearing_deg: float, meters: float) -> tuple[float, float]:
    """The point `meters` from (lat, lon) along `bearing_deg`, on the sphere."""
    p1, l1, b = math.radians(lat), math.radians(lon), math.radians(bearing_deg)
    d = meters / EARTH_RADIUS_M
    p2 = math.asin(math.sin(p1) * math.cos(d) + math.cos(p1) * math.sin(d) * math.cos(b))
    l2 = l1 + math.atan2(math.sin(b) * math.sin(d) * math.cos(p1),
                         math.cos(d) - math.sin(p1) * math.sin(p2))
    return math.degrees(p2), (math.degrees(l2) + 540.0) % 360.0 - 180.0


def regular(lat: float, lon: float, n: int, r: float) -> list[tuple[float, float]]:
    return [destination(lat, lon, 360.0 * i / n, r) for i in range(n)]


# (dlat, dlon) of an L around (48.90, 2.30): a bar 111 m x 290 m along the
# south, and one up the west side; the notch is the north-east.
L_SHAPE = [(48.90 + a, 2.30 + o) for a, o in
           ((0, 0), (0, 0.004), (0.001, 0.004), (0.001, 0.001), (0.004, 0.001), (0.004, 0))]


def test_inside_the_outline_is_zero_and_the_notch_is_outside_by_its_distance():
    outline, (lat, lon, _) = polygon.checked(L_SHAPE)
    assert polygon.distance_outside(outline, (lat, lon), (48.9005, 2.302)) == 0.0
    notch = polygon.distance_outside(outline, (lat, lon), (48.903, 2.303))
    assert notch == pytest.approx(haversine_m(48.903, 2.303, 48.903, 2.301), rel=0.01)


def test_the_enclosing_circle_passes_through_the_farthest_vertex():
    outline, (lat, lon, radius) = polygon.checked(L_SHAPE)
    assert max(haversine_m(lat, lon, a, o) for a, o in outline) == pytest.approx(radius)
    assert 250 < radius < 350


@pytest.mark.parametrize(
    ("vertices", "words"),
    [
        (L_SHAPE[:2], "3 to 100 vertices"),
        ([(48.9, 2.3), (48.9, 2.301), (48.901, 2.3), (48.901, 2.301)], "edges cross"),
        ([(48.9, 2.3), (48.9, 2.301), (48.9, 2.302)], "no area"),
        (regular(48.9, 2.3, 6, 20_000.0), "10 m to 10 km"),
        ([(91.0, 0.0), (48.9, 2.3), (48.91, 2.3)], "out of range"),
    ],
)
def test_bad_outlines_are_invalid_input(vertices, words):
    with pytest.raises(DomainError) as refused:
        polygon.checked(vertices)
    assert refused.value.field == "vertices" and words in refused.value.message


def test_the_stored_text_round_trips():
    outline, _ = polygon.checked(L_SHAPE)
    assert polygon.parse(polygon.dump(outline)) == outline
    assert polygon.parse(None) is None


centres = st.tuples(st.floats(-89.9, 89.9), st.floats(-180.0, 180.0))
edges = st.sampled_from([-180.0, 180.0, 179.999, -179.999])


@settings(max_examples=200, deadline=None)
@given(st.one_of(centres, st.tuples(st.floats(-60, 60), edges),
                 st.tuples(st.sampled_from([89.99, -89.99, 89.9999, -89.9999]),
                           st.floats(-180.0, 180.0))),
       st.integers(3, 12), st.floats(50.0, 5000.0))
def test_regular_polygons_anywhere_including_the_antimeridian_and_poles(centre, n, r):
    vertices = regular(centre[0], centre[1], n, r)
    outline, (lat, lon, radius) = polygon.checked(vertices)
    assert haversine_m(lat, lon, centre[0], centre[1]) < 1.0 + r * 1e-3
    assert radius == pytest.approx(r, rel=1e-3, abs=1.0)
    # a point halfway to a vertex is inside; one twice as far as the vertices is
    # outside by between the vertices' and the edges' distance
    for bearing in (0.0, 77.0, 200.0):
        half = destination(centre[0], centre[1], bearing, r / 2)
        assert polygon.distance_outside(outline, (lat, lon), half) == 0.0
        far = destination(centre[0], centre[1], bearing, 2 * r)
        outside = polygon.distance_outside(outline, (lat, lon), far)
        assert r * 0.99 - 1.0 <= outside <= (2 * r - r * math.cos(math.pi / n)) * 1.01 + 1.0
