"""Webhooks: the programme's domain events POSTed, signed, to the retailer's
other systems (docs/adr/0016-webhooks.md)."""
