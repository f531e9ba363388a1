"""Polygon geofences: a store's outline, where a circle would take in the
neighbours. Phones monitor circles only (iOS and Android), so a polygon fence
also keeps the smallest circle around its vertices' centre, which the nearby
index serves; the server then checks the reported position against the outline.

Outlines are small (at most 10 km from their centre), so they are measured on
the plane tangent to the sphere at the centre (gnomonic projection: great-circle
edges stay straight, and there is no special case at the antimeridian or the
poles). Over 10 km the plane's distances are within 0.1 % of the sphere's."""

from __future__ import annotations

import json
import math
from functools import lru_cache

from geofence.nearby import EARTH_RADIUS_M, haversine_m
from loyalty.errors import invalid

Vertex = tuple[float, float]  # latitude, longitude in degrees
MIN_VERTICES, MAX_VERTICES = 3, 100
_Vector = tuple[float, float, float]


def _unit(lat: float, lon: float) -> _Vector:
    p, q = math.radians(lat), math.radians(lon)
    return (math.cos(p) * math.cos(q), math.cos(p) * math.sin(q), math.sin(p))


def _dot(a: _Vector, b: _Vector) -> float:
    return a[0] * b[0] + a[1] * b[1] + a[2] * b[2]


class Plane:
    """The tangent plane at a point, in metres east and north of it."""

    def __init__(self, lat: float, lon: float) -> None:
        p, q = math.radians(lat), math.radians(lon)
        self.centre = _unit(lat, lon)
        self.east = (-math.sin(q), math.cos(q), 0.0)
        self.north = (-math.sin(p) * math.cos(q), -math.sin(p) * math.sin(q), math.cos(p))

    def project(self, lat: float, lon: float) -> tuple[float, float] | None:
        """None for a point a quarter of the globe away or more."""
        v = _unit(lat, lon)
        d = _dot(v, self.centre)
        if d <= 1e-6:
            return None
        return (EARTH_RADIUS_M * _dot(v, self.east) / d,
                EARTH_RADIUS_M * _dot(v, self.north) / d)


def enclosing_circle(vertices: tuple[Vertex, ...]) -> tuple[float, float, float]:
    """(latitude, longitude, radius in metres) of the circle the phone
    monitors: centred on the vertices' mean direction, through the farthest."""
    sx = sy = sz = 0.0
    for lat, lon in vertices:
        x, y, z = _unit(lat, lon)
        sx, sy, sz = sx + x, sy + y, sz + z
    norm = math.sqrt(sx * sx + sy * sy + sz * sz)
    lat = math.degrees(math.asin(max(-1.0, min(1.0, sz / norm))))
    lon = math.degrees(math.atan2(sy, sx)) if abs(lat) < 90.0 else 0.0
    radius = max(haversine_m(lat, lon, v[0], v[1]) for v in vertices)
    return lat, lon, radius


def _segment_distance(p: tuple[float, float], a: tuple[float, float],
                      b: tuple[float, float]) -> float:
    dx, dy = b[0] - a[0], b[1] - a[1]
    length2 = dx * dx + dy * dy
    t = 0.0 if length2 == 0 else max(0.0, min(1.0, ((p[0] - a[0]) * dx + (p[1] - a[1]) * dy)
                                             / length2))
    return math.hypot(p[0] - a[0] - t * dx, p[1] - a[1] - t * dy)


def _inside(p: tuple[float, float], ring: list[tuple[float, float]]) -> bool:
    inside = False
    j = len(ring) - 1
    for i in range(len(ring)):
        (xi, yi), (xj, yj) = ring[i], ring[j]
        if (yi > p[1]) != (yj > p[1]) and p[0] < (xj - xi) * (p[1] - yi) / (yj - yi) + xi:
            inside = not inside
        j = i
    return inside


def distance_outside(vertices: tuple[Vertex, ...], centre: Vertex, point: Vertex) -> float:
    """Metres from `point` to the outline, 0 when it lies inside."""
    plane = Plane(*centre)
    p = plane.project(*point)
    if p is None:
        return haversine_m(centre[0], centre[1], point[0], point[1])
    ring = [plane.project(*v) or (0.0, 0.0) for v in vertices]
    if _inside(p, ring):
        return 0.0
    return min(_segment_distance(p, ring[i - 1], ring[i]) for i in range(len(ring)))


def _crosses(a: tuple[float, float], b: tuple[float, float], c: tuple[float, float],
             d: tuple[float, float]) -> bool:
    def side(p: tuple[float, float], q: tuple[float, float], r: tuple[float, float]) -> float:
        return (q[0] - p[0]) * (r[1] - p[1]) - (q[1] - p[1]) * (r[0] - p[0])

    return (side(a, b, c) * side(a, b, d) < 0) and (side(c, d, a) * side(c, d, b) < 0)


def checked(vertices: list[Vertex]) -> tuple[tuple[Vertex, ...], tuple[float, float, float]]:
    """The outline as stored and its enclosing circle, or INVALID_INPUT on
    `vertices`: 3 to 100 points, in range, within 10 km of their centre,
    enclosing some area, edges not crossing."""
    if not MIN_VERTICES <= len(vertices) <= MAX_VERTICES:
        raise invalid(f"A polygon has {MIN_VERTICES} to {MAX_VERTICES} vertices.", "vertices")
    for lat, lon in vertices:
        if not (-90.0 <= lat <= 90.0 and -180.0 <= lon <= 180.0):
            raise invalid("A vertex is out of range.", "vertices")
    outline = tuple((float(lat), float(lon)) for lat, lon in vertices)
    lat, lon, radius = enclosing_circle(outline)
    if not 10.0 <= radius <= 10_000.0:
        raise invalid("A polygon spans 10 m to 10 km from its centre.", "vertices")
    plane = Plane(lat, lon)
    ring = [plane.project(*v) or (0.0, 0.0) for v in outline]
    n = len(ring)
    for i in range(n):
        for j in range(i + 2, n):
            if i == 0 and j == n - 1:
                continue  # adjacent through the closing edge
            if _crosses(ring[i], ring[(i + 1) % n], ring[j], ring[(j + 1) % n]):
                raise invalid("The polygon's edges cross.", "vertices")
    area2 = sum(ring[i - 1][0] * ring[i][1] - ring[i][0] * ring[i - 1][1]
                for i in range(len(ring)))
    if abs(area2) < 1.0:  # under half a square metre
        raise invalid("The polygon encloses no area.", "vertices")
    return outline, (lat, lon, radius)


def dump(outline: tuple[Vertex, ...]) -> str:
    return json.dumps([list(v) for v in outline])


@lru_cache(maxsize=4096)
def parse(text: str | None) -> tuple[Vertex, ...] | None:
    """The stored outline (JSON [[lat, lon], ...]); cached, as check-ins at a
    store read the same text again and again."""
    if text is None:
        return None
    return tuple((float(v[0]), float(v[1])) for v in json.loads(text))
