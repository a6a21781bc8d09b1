"""The ``infoprop`` command line: a thin layer over the library.

Each subcommand lives in its own module with a ``register(app)`` function. Library errors
(``ValueError``/``TypeError``) and usage errors become one line on stderr and exit code 2.
"""

from __future__ import annotations

import sys

import typer

from .._version import __version__
from . import diagnose, explore, figure, landscape, meanfield, report, sweep, trainability
from ._common import fail

app = typer.Typer(
    name="infoprop",
    help="Information propagation in deep random networks: mean field, finite width, fractal frontiers.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    rich_markup_mode=None,
)


def _version_callback(value: bool) -> None:
    if value:
        print(f"infoprop {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version_callback, is_eager=True, help="Print version."),
) -> None:
    """infoprop command line."""


for _module in (report, meanfield, landscape, figure, sweep, trainability, explore, diagnose):
    _module.register(app)


def main(argv: list[str] | None = None) -> int:
    """Console-script entry point; returns the exit code instead of printing tracebacks for bad input."""
    argv = sys.argv[1:] if argv is None else list(argv)
    if not argv:
        argv = ["--help"]
    try:
        result = app(args=argv, standalone_mode=False, prog_name="infoprop")
    except typer.Exit as exc:
        return exc.exit_code
    except typer.Abort:
        print("infoprop: aborted", file=sys.stderr)
        return 130
    except typer.TyperException as exc:  # usage errors: unknown option, bad value, missing argument
        message = exc.format_message() if hasattr(exc, "format_message") else str(exc)
        return fail(message)
    except (ValueError, TypeError, OSError) as exc:  # bad input, refused outputs, unreadable stores, I/O
        return fail(str(exc))
    except MemoryError:
        return fail("out of memory: make the problem smaller (the size checks use --max-memory as the budget)")
    return result if isinstance(result, int) else 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
