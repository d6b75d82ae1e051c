"""Where tracewrap's spans, metrics and LangSmith runs go: :func:`tracewrap.exporting.config.configure`.

``config`` builds the pipelines; ``settings`` reads the environment; ``otlp``, ``console`` and
``langsmith`` are the sinks; ``bounded`` and ``dropping`` keep export off the call path and the
process exit short.
"""
