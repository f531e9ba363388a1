"""Mutations: convert input, call the use case, map domain errors to UserError."""
