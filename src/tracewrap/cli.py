"""The ``tracewrap`` command: ``tracewrap run -- python app.py`` and ``tracewrap demo``."""

from __future__ import annotations

import argparse
import inspect
import sys
from collections.abc import Sequence

RUN_DESCRIPTION = (
    "Run COMMAND with every OpenAI client traced, without changing its code: sets TRACEWRAP_ENABLED=true "
    "(an explicit TRACEWRAP_ENABLED=false still wins) and puts a sitecustomize first on PYTHONPATH, so "
    "the program's Python subprocesses are traced too. Exporters come from the environment, e.g. "
    "OTEL_EXPORTER_OTLP_ENDPOINT=http://localhost:4318 or OTEL_TRACES_EXPORTER=console."
)


def _parser() -> tuple[argparse.ArgumentParser, argparse.ArgumentParser]:
    parser = argparse.ArgumentParser(
        prog="tracewrap", description="Trace every OpenAI SDK call into OpenTelemetry spans and metrics."
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    run = commands.add_parser(
        "run",
        help="run a program with every OpenAI client traced (no code change)",
        description=RUN_DESCRIPTION,
        usage="tracewrap run [-h] -- COMMAND [ARGS ...]",
    )
    commands.add_parser("demo", help="run the demo (tracewrap demo --help for its options)", add_help=False)
    return parser, run


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    parser, run_parser = _parser()
    # only the command name goes through argparse: everything after it belongs to the command or
    # the demo, options included (argparse's REMAINDER would take `--fast` for one of ours)
    command = parser.parse_args(args[:1]).command
    rest = args[1:]
    if command == "demo":
        return _demo(rest)
    if rest[:1] in (["-h"], ["--help"]):
        run_parser.print_help()
        return 0
    if rest[:1] == ["--"]:
        rest = rest[1:]
    if not rest:
        sys.stderr.write("tracewrap run: no command given; usage: tracewrap run -- python app.py\n")
        return 2
    from tracewrap.auto.launcher import run

    return run(rest)


def _demo(rest: list[str]) -> int:
    # imported only when asked for: the demo may pull in things `tracewrap run` never needs
    try:
        from tracewrap.demo import main as demo_main
    except ModuleNotFoundError as exc:
        if exc.name != "tracewrap.demo":
            raise
        sys.stderr.write("tracewrap demo: this build of tracewrap has no demo\n")
        return 2

    if inspect.signature(demo_main).parameters:
        result = demo_main(rest)
    else:  # a main() that reads sys.argv itself sees only its own arguments
        sys.argv = ["tracewrap demo", *rest]
        result = demo_main()
    return result if isinstance(result, int) else 0


if __name__ == "__main__":
    sys.exit(main())
