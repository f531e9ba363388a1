"""What the processes tell operators: Prometheus metrics (observability.metrics).

Every package may import it; it imports none of the project's packages, and
neither strawberry nor starlette, so that the domain can count what it does.
"""
