"""The spatial index answers exactly what a brute-force scan answers."""

from __future__ import annotations

import math

from hypothesis import given, settings
from hypothesis import strategies as st

from geofence.index import SphereIndex, chord_to_meters, to_vector
from geofence.nearby import haversine_m

latitudes = st.floats(-90, 90, allow_nan=False)
longitudes = st.floats(-180, 180, allow_nan=False)
near_antimeridian = st.one_of(st.floats(170, 180), st.floats(-180, -170))
near_poles = st.one_of(st.floats(80, 90), st.floats(-90, -80))


def brute_force(points, lat, lon, k):
    scored = sorted((haversine_m(lat, lon, plat, plon), key) for key, plat, plon in points)
    return scored[:k]


def assert_same_answer(points, lat, lon, k):
    got = SphereIndex(points).nearest(lat, lon, k)
    want = brute_force(points, lat, lon, k)
    assert len(got) == len(want)
    for hit, (distance, _) in zip(got, want, strict=True):
        assert math.isclose(hit.distance_m, distance, rel_tol=1e-6, abs_tol=1e-3)
    # Ids agree wherever the distance does not tie with a neighbour's.
    want_ids = [key for _, key in want]
    got_ids = [hit.key for hit in got]
    distances = [d for d, _ in want]
    for i, key in enumerate(want_ids):
        tied = any(math.isclose(distances[i], distances[j], rel_tol=1e-9, abs_tol=1e-3)
                   for j in range(len(distances)) if j != i)
        if not tied and i < len(distances) - 1:
            assert got_ids[i] == key


point = st.tuples(latitudes, longitudes)


@settings(max_examples=150, deadline=None)
@given(st.lists(point, min_size=0, max_size=300), latitudes, longitudes, st.integers(1, 40))
def test_nearest_equals_brute_force_anywhere(raw, lat, lon, k):
    points = [(i, a, b) for i, (a, b) in enumerate(raw)]
    assert_same_answer(points, lat, lon, k)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.floats(-60, 60), near_antimeridian), min_size=1, max_size=200),
       st.floats(-60, 60), near_antimeridian, st.integers(1, 20))
def test_nearest_equals_brute_force_across_the_antimeridian(raw, lat, lon, k):
    points = [(i, a, b) for i, (a, b) in enumerate(raw)]
    assert_same_answer(points, lat, lon, k)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(near_poles, longitudes), min_size=1, max_size=200),
       near_poles, longitudes, st.integers(1, 20))
def test_nearest_equals_brute_force_near_the_poles(raw, lat, lon, k):
    points = [(i, a, b) for i, (a, b) in enumerate(raw)]
    assert_same_answer(points, lat, lon, k)


def test_a_fence_just_across_the_antimeridian_is_nearest():
    points = [(1, 0.0, 179.99), (2, 0.0, -179.99), (3, 0.0, 170.0)]
    hits = SphereIndex(points).nearest(0.0, -179.995, 2)
    assert [h.key for h in hits] == [2, 1]
    assert hits[0].distance_m < 1_000


def test_chord_distance_matches_haversine():
    a, b = to_vector(48.8566, 2.3522), to_vector(40.7128, -74.0060)  # Paris, New York
    chord = math.dist(a, b)
    assert math.isclose(chord_to_meters(chord), haversine_m(48.8566, 2.3522, 40.7128, -74.0060),
                        rel_tol=1e-9)
    assert 5_800_000 < chord_to_meters(chord) < 5_900_000
