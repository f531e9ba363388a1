"""Marketing automation: journey definitions (data, validated on save), the
pure step machine that advances a customer's run, timers in the customer's
time zone, experiments and holdouts, and the journeys shipped as templates.

Nothing in this package performs I/O except `journeys.models` (the tables):
the engine returns the actions to perform and the worker performs them.
"""
