"""``ml314``: the command line. Errors of ours become one line on stderr and exit code 2."""

from __future__ import annotations

import sys

import click
import typer

from ml314 import __version__
from ml314.cli.simulate import simulate_command
from ml314.errors import Ml314Error

app = typer.Typer(
    name="ml314",
    help="The ML314-51.2-W08 LiFePO4 wall battery system as software.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    add_completion=False,
)
app.command("simulate")(simulate_command)


@app.command("version")
def version_command() -> None:
    """Print the version."""
    typer.echo(__version__)


def main() -> None:
    """Entry point of the ``ml314`` script."""
    try:
        app(standalone_mode=False)
    except Ml314Error as exc:
        typer.echo(f"ml314: error: {_one_line(str(exc))}", err=True)
        sys.exit(2)
    except KeyboardInterrupt:
        typer.echo("ml314: interrupted", err=True)
        sys.exit(130)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        typer.echo("ml314: aborted", err=True)
        sys.exit(1)
    except (click.ClickException, typer.TyperException) as exc:
        # Typer >= 0.22 vendors click: its usage errors are TyperExceptions, not click.ClickExceptions.
        if type(exc).__name__ == "NoArgsIsHelpError":  # bare `ml314`: the help, not an error line
            typer.echo(exc.format_message(), err=True)
        else:
            typer.echo(f"ml314: error: {_one_line(exc.format_message())}", err=True)
        sys.exit(exc.exit_code)


def _one_line(message: str) -> str:
    return " ".join(message.split())


if __name__ == "__main__":
    main()
