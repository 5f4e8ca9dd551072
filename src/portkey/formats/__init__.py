"""Wire formats: pure translators between the OpenAI canonical shape and each native API."""
