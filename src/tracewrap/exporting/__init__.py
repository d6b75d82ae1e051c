"""Where tracewrap's spans, metrics and LangSmith runs go: :func:`tracewrap.exporting.config.configure`.

``config`` builds the pipelines (the environment's rules are :mod:`tracewrap.environment`'s);
``otlp``, ``console`` and ``langsmith`` are the sinks; ``bounded`` and ``dropping`` keep export off
the call path and the process exit short.
"""
