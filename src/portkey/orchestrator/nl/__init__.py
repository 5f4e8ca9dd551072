"""Questions in natural language, answered by a model through our own gateway and validated.

``client`` (the gateway in-process), ``models`` (the answer forms), ``reasons`` and
``checks`` (the validation layer), ``prompt``, ``service`` (the retry-with-feedback loop),
``advisor`` (recommendations computed from our plan and the engines' EXPLAIN).
"""
