"""Guardrails: checks on request and response text, run as Portkey-compatible hooks.

A guardrail (``guardrails:`` in portkey.yaml, or inline) is a list of checks plus what a
failure does: ``deny: true`` (or ``action: block``/``fallback``) answers 446 with
``hook_results``; ``deny: false`` (``action: flag``) passes the answer as 246 with them;
``action: mask`` rewrites PII/secrets (``restore: true`` de-masks the answer for the
caller); ``async: true`` only reports. Configs refer to guardrails from
``input_guardrails``/``output_guardrails`` (or ``before_request_hooks``/
``after_request_hooks``) at any level of the strategy tree::

    guardrails:
      no-pii: {action: mask, restore: true, checks: [{id: default.pii}]}
      polite:
        deny: true
        checks:
          - {id: default.contains, parameters: {words: [darn], operator: none}}
          - {id: default.llmJudge, parameters: {url: "http://127.0.0.1:8787/v1",
                                               config: judge, model: gpt-4o-mini}}
    configs:
      main: {virtual_key: openai, input_guardrails: [no-pii], output_guardrails: [polite]}

Checks (``registry.CHECKS``): regexMatch, contains, wordCount, characterCount,
sentenceCount, tokenCount, containsCode, validJson, jsonKeys, jsonSchema, validUrls,
language, pii, secrets, webhook, llmJudge, moderation. Output guardrails also run on
streams (``stream``): a violation stops the stream with an in-band error event.
"""
