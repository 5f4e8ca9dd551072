"""Developer tooling: fakes and helpers for tests and the offline demo."""
