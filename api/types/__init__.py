"""GraphQL types, one module per side of the contract."""
