"""The use cases that move points: purchases, redemptions, refunds, surveys,
adjustments, expiry and its reminders. Each posts through loyalty.ledger."""
