"""The GraphQL edge: the only package that imports strawberry or starlette."""
