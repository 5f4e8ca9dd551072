"""LLM providers: one module each, looked up through ``registry``."""
