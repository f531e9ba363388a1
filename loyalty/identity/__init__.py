"""Who is who: customers, staff and API clients, their sign-up, log-in and
sessions, consents, profile, and erasure."""
