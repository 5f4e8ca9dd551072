"""Prompts: a versioned registry (config as code + admin API), Mustache rendering, A/B, feedback.

``prompts:`` in portkey.yaml (``settings``) is stored as immutable versions (``store``) and
held in memory (``registry``); ``POST /v1/prompts/{id}/render|completions``
(``endpoints``) serve them as the ``portkey-ai`` SDK expects, ``POST /v1/feedback``
(``feedback``) scores traces, and ``/admin/prompts`` (``api``) manages versions, labels,
partials, diffs and A/B results (``ab``)::

    prompts:
      support:
        config: main
        model: gpt-4o-mini
        params: {temperature: 0.2}
        messages:
          - {role: system, content: "You help {{company}}. {{> tone}}"}
          - {role: user, content: "{{question}}"}
        ab: {production: 90, staging: 10}
    prompt_partials:
      tone: "Be brief."
"""
