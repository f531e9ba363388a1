"""Stores' geofences and beacons, check-ins, nearby-geofence sync."""
