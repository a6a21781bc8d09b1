"""`infoprop explore`: the local web application (zoom into one network draw's landscape in the browser)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

DEFAULT_PORT = 8765


def default_cache() -> Path:
    """``$XDG_CACHE_HOME/infoprop`` (``~/.cache/infoprop`` when unset)."""
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "infoprop"


def register(app: typer.Typer) -> None:
    """Add this module's command(s) to ``app``."""

    @app.command("explore")
    def explore(
        port: Annotated[int, typer.Option("--port", help=f"TCP port (0: any free one) [default {DEFAULT_PORT}].")] = (
            DEFAULT_PORT
        ),
        host: Annotated[
            str, typer.Option("--host", help="Address to bind; anything but loopback exposes the app to the network.")
        ] = "127.0.0.1",
        no_browser: Annotated[bool, typer.Option("--no-browser", help="Do not open a browser.")] = False,
        cache: Annotated[
            Path | None,
            typer.Option("--cache", help="Cache directory for tiles and views [default $XDG_CACHE_HOME/infoprop]."),
        ] = None,
        export_dir: Annotated[
            Path | None, typer.Option("--export-dir", help="Where Export writes [default <cache>/explore-v1/exports].")
        ] = None,
        device: Annotated[str, typer.Option("--device", help="cpu | cuda | cuda:<index>.")] = "cpu",
        cache_max: Annotated[
            str, typer.Option("--cache-max", help="Bound of the cached tiles and views, least recently used go first.")
        ] = "2G",
    ) -> None:
        """Start the explorer's local server and open it in the browser (Ctrl-C stops it)."""
        import socket
        import threading
        import webbrowser

        import uvicorn

        from .._src.common import check_int, parse_size
        from .._src.explore.server import explorer_app, warm_up

        check_int("--port", port, minimum=0, maximum=65535)
        cache_bytes = parse_size("--cache-max", cache_max)
        app_ = explorer_app(
            cache if cache is not None else default_cache(), export_dir, device=device, host=host, cache_max=cache_bytes
        )
        explorer = app_.state.explorer
        try:
            family = socket.AF_INET6 if ":" in host else socket.AF_INET
            sock = socket.socket(family, socket.SOCK_STREAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((host, port))
            sock.listen(128)  # connections wait in the backlog until the server accepts: the URL works once printed
        except (OSError, OverflowError) as exc:
            raise ValueError(f"--host/--port: cannot listen on {host}:{port} ({exc.strerror or exc})") from None
        port = sock.getsockname()[1]
        shown = f"[{host}]" if ":" in host else host
        url = f"http://{shown}:{port}/"
        print(f"infoprop explore: serving {url} (Ctrl-C stops it)", flush=True)
        print(f"  cache: {explorer.cache.root} (bound {cache_max})   exports: {explorer.export_dir}", flush=True)
        if host not in ("127.0.0.1", "localhost", "::1"):
            print(f"  warning: bound to {host}: anyone who can reach this machine can use the explorer", flush=True)
        server = uvicorn.Server(uvicorn.Config(app_, log_level="warning", lifespan="off"))
        threading.Thread(target=warm_up, daemon=True).start()  # so that the first view does not pay for it
        if not no_browser:

            def open_when_ready() -> None:
                while not server.started and not server.should_exit:
                    threading.Event().wait(0.05)
                if server.started:
                    webbrowser.open(url)

            threading.Thread(target=open_when_ready, daemon=True).start()
        server.run(sockets=[sock])
