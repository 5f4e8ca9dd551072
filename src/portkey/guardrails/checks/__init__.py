"""The built-in checks, one small module per family; ``portkey.guardrails.registry`` lists them."""
