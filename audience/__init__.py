"""Knowing the customer: events, segments, scores, value, attribution."""
