"""The explorer's ASGI application (Starlette): a static page and a small JSON API.

Routes
------
``GET /``                the page (``static/index.html``; its JavaScript keeps the whole state in the URL)
``GET /api/options``     registries (arch, activation, metric, ...), defaults and limits
``GET /api/view``        one level of a view: ``?<view query>&level=k&client=ID&seq=n`` (see :mod:`.view`)
``GET /api/status``      the computation in progress (points done / total) and counters
``POST /api/export``     write the view as ``infoprop landscape`` would: ``?<view query>&name=NAME``

Requests
--------
Bad input gets a 4xx with ``{"error": "<one line>"}``: 400 for invalid parameters (including a network that
would not fit in memory), 409 for a superseded request or an export name that exists. An unexpected error is a
500 with one line; the server keeps serving.

Computations run one at a time in a worker thread. A ``/api/view`` request carries the page's ``client`` id and
a sequence number ``seq``; a newer request of the same client cancels the older one (the engine stops at its
next block, finished tiles stay cached), and so does the client closing the connection. A view whose response
is cached is answered from disk without computing.

Files: tiles and responses under ``<cache>/explore-v1/`` and exports under the export directory
(``<cache>/explore-v1/exports`` by default); nothing else is written. Export names are plain file names
(letters, digits, ``.``, ``_``, ``-``) and existing paths are refused.
"""

from __future__ import annotations

import base64
import re
import shlex
import sys
import threading
import time
import traceback
from collections import Counter, OrderedDict
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from ..._version import __version__
from ..metrics import FORWARD_METRICS
from .render import colour_scale, colourbar_png, critical_line, data_url, frontier, landscape_png, to_image
from .tiles import DEFAULT_CACHE_BYTES, Cancelled, TileCache, compute_level
from .view import (
    DEFAULTS,
    MAX_DEPTH,
    MAX_RESOLUTION,
    MAX_WIDTH,
    MIN_RESOLUTION,
    SIGMA_MAX,
    View,
    nearest_on_lattice,
    registries,
)

#: Networks kept drawn between requests (the same draw serves every window).
NETWORKS_KEPT = 2
_EXPORT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
#: Header a POST must carry: a page of another origin cannot send it without a CORS preflight (never granted).
WRITE_HEADER = "x-infoprop-request"
_LOOPBACK = ("127.0.0.1", "localhost", "::1", "[::1]")


def _one_line(message: Any) -> str:
    return " ".join(str(message).split())


class Explorer:
    """State shared by the requests: cache, drawn networks, the compute lock, who supersedes whom, counters."""

    def __init__(
        self,
        cache_dir: str | Path,
        export_dir: str | Path | None = None,
        device: str = "cpu",
        cache_max: int | None = DEFAULT_CACHE_BYTES,
    ):
        from ..common import resolve_device

        self.device = str(resolve_device(device))
        self.cache = TileCache(cache_dir, cache_max)
        self.export_dir = Path(export_dir).expanduser() if export_dir is not None else self.cache.root / "exports"
        self._networks: OrderedDict[str, Any] = OrderedDict()
        self._compute = threading.Lock()
        self._clients: dict[str, tuple[int, threading.Event]] = {}
        self._clients_lock = threading.Lock()
        self.running: dict[str, Any] | None = None
        self.stats: Counter[str] = Counter()

    # ------------------------------------------------------------------ supersession
    def register(self, client: str | None, seq: int) -> threading.Event:
        """Cancel event of a new request; cancels the client's older request (or this one, if it is older)."""
        event = threading.Event()
        if client is None:
            return event
        with self._clients_lock:
            current = self._clients.get(client)
            if current is not None and current[0] > seq:
                event.set()  # a newer request of this client is already in
                return event
            if current is not None and not current[1].is_set():
                current[1].set()
            self._clients[client] = (seq, event)
        return event

    def release(self, client: str | None, seq: int) -> None:
        if client is None:
            return
        with self._clients_lock:
            if self._clients.get(client, (None,))[0] == seq:
                del self._clients[client]

    # ------------------------------------------------------------------ compute
    def network(self, view: View) -> Any:
        """The draw of ``view``'s network (kept for the next windows)."""
        from ..landscape import make_network
        from .view import digest

        key = digest({**view.network_parameters(), "device": self.device})
        if key in self._networks:
            self._networks.move_to_end(key)
            return self._networks[key]
        while len(self._networks) >= NETWORKS_KEPT:
            self._networks.popitem(last=False)
        self.stats["networks_drawn"] += 1
        network = make_network(**view.network_parameters(), device=self.device)
        self._networks[key] = network
        return network

    def _locked(self, cancel: threading.Event, what: dict[str, Any], work: Callable[[], Any]) -> Any:
        """Run ``work`` holding the compute lock; give up waiting for it once ``cancel`` is set."""
        while not self._compute.acquire(timeout=0.05):
            if cancel.is_set():
                raise Cancelled("superseded by a newer request")
        try:
            self.running = {**what, "done": 0, "total": 0}
            return work()
        finally:
            self.running = None
            self._compute.release()

    def _progress(self, done: int, total: int) -> None:
        running = self.running
        if running is not None:
            running["done"], running["total"] = done, total

    def view_response(self, view: View, level: int, cancel: threading.Event) -> dict[str, Any]:
        """The JSON response for one level of a view (from the cache when it is there)."""
        start = time.perf_counter()
        strides = view.strides()
        if not 0 <= level < len(strides):
            raise ValueError(f"level must be an integer in [0, {len(strides) - 1}] for this view, got {level}")
        key, final = view.key(), len(strides) - 1
        cached = self.cache.load_response(key, final)  # a finished view answers every level
        if cached is not None:
            self.stats["cache_hits"] += 1
            cached["cached"] = True
            cached["timing"]["total_s"] = time.perf_counter() - start
            return cached
        what = {"query": view.query(), "level": level, "levels": len(strides)}
        computed = self._locked(
            cancel,
            what,
            lambda: compute_level(
                view,
                level,
                self.cache,
                lambda: self.network(view),
                device=self.device,
                cancel=cancel,
                progress=self._progress,
            ),
        )
        self.stats["tiles_computed"] += computed.computed_tiles
        self.stats["tiles_loaded"] += computed.loaded_tiles
        render_start = time.perf_counter()
        stride = strides[level]
        nearest = nearest_on_lattice(view.res, stride)
        shown = computed.values[np.ix_(nearest, nearest)]  # coarse levels: each pixel shows its nearest point
        scale = colour_scale(shown, view.metric)
        response: dict[str, Any] = {
            "infoprop_version": __version__,
            "query": view.query(),
            "key": key,
            "level": level,
            "levels": list(strides),
            "final": level == final,
            "res": view.res,
            "image": data_url(landscape_png(shown, scale)),
            "values": base64.b64encode(to_image(shown).astype("<f4").tobytes()).decode("ascii"),
            "colour": {
                "vmin": scale["vmin"],
                "vmax": scale["vmax"],
                "log": scale["log"],
                "label": scale["label"],
                "cmap": scale["cmap"],
                "colourbar": data_url(colourbar_png(scale["cmap"])),
            },
            "critical_line": critical_line(view),
            "boundary": None,
            "frontier": None,
            "computed_points": computed.computed_points,
        }
        if level == final:
            png, info = frontier(view, computed.values)
            response["boundary"] = data_url(png) if png is not None else None
            response["frontier"] = info
        now = time.perf_counter()
        response["timing"] = {
            "compute_s": computed.compute_seconds,
            "render_s": now - render_start,
            "total_s": now - start,
        }
        response["cached"] = False
        if level == final:  # previews are not stored: their tiles are, and they are redrawn in milliseconds
            self.cache.save_response(key, level, response)
        self.stats["views_computed"] += 1
        return response

    def export(self, view: View, name: str, cancel: threading.Event) -> dict[str, Any]:
        """Write the view's full grid as ``infoprop landscape --out <name>.zarr --plot <name>.png`` would."""
        from ..landscape import compute_landscape, write_landscape

        if not isinstance(name, str) or not _EXPORT_NAME.match(name):
            raise ValueError(
                f"name must be a plain file name (letters, digits, '.', '_', '-'; at most 100), got {name!r}"
            )
        out, plot = self.export_dir / f"{name}.zarr", self.export_dir / f"{name}.png"
        for path in (out, plot):
            if path.exists() or path.is_symlink():
                raise FileExistsError(f"{path} exists; choose another name")

        def work() -> None:
            landscape = compute_landscape(
                self.network(view),
                view.metric,
                view.sigma_w(),
                view.sigma_b(),
                inputs=view.inputs if view.metric in FORWARD_METRICS else "independent",
                eps=view.eps,
                progress=self._progress,
            )
            self.export_dir.mkdir(parents=True, exist_ok=True)
            write_landscape(landscape, out, plot)

        self._locked(cancel, {"query": view.query(), "export": name}, work)
        self.stats["exports"] += 1
        argv = ["infoprop", "landscape", *view.landscape_argv(), "--out", str(out), "--plot", str(plot)]
        return {"store": str(out), "figure": str(plot), "command": shlex.join(argv)}


# ---------------------------------------------------------------------------------------------- HTTP
def _error(status: int, message: Any):
    from starlette.responses import JSONResponse

    return JSONResponse({"error": _one_line(message)}, status_code=status, headers={"Cache-Control": "no-store"})


def _query(request) -> dict[str, str]:
    items = request.query_params.multi_items()
    keys = [k for k, _ in items]
    for k in keys:
        if keys.count(k) > 1:
            raise ValueError(f"parameter {k!r} given {keys.count(k)} times")
    return dict(items)


def _request_int(query: dict[str, str], key: str, default: int | None) -> int | None:
    if key not in query:
        return default
    try:
        return int(query[key])
    except ValueError:
        raise ValueError(f"{key} must be an integer, got {query[key]!r}") from None


async def _run(request, cancel: threading.Event, fn: Callable[..., Any], *args: Any) -> Any:
    """``fn(*args)`` in a worker thread; a client that disconnects sets ``cancel``."""
    import anyio

    explorer: Explorer = request.app.state.explorer

    async def watch() -> None:
        while not cancel.is_set():
            if await request.is_disconnected():
                explorer.stats["disconnected"] += 1
                cancel.set()
                return
            await anyio.sleep(0.2)

    try:
        async with anyio.create_task_group() as group:
            group.start_soon(watch)
            try:
                return await anyio.to_thread.run_sync(fn, *args)
            finally:
                group.cancel_scope.cancel()
    except BaseExceptionGroup as errors:  # anyio wraps what the body raised; the watcher raises nothing
        if len(errors.exceptions) == 1:
            raise errors.exceptions[0] from None
        raise


def _guarded(endpoint: Callable[..., Any]) -> Callable[..., Any]:
    """Map every failure of a request to a one-line JSON error; the server itself never goes down."""

    async def wrapped(request):
        explorer: Explorer = request.app.state.explorer
        try:
            return await endpoint(request)
        except Cancelled as exc:
            explorer.stats["cancelled"] += 1
            return _error(409, exc)
        except FileExistsError as exc:
            return _error(409, exc)
        except (ValueError, TypeError) as exc:
            explorer.stats["bad_requests"] += 1
            return _error(400, exc)
        except MemoryError:
            explorer.stats["errors"] += 1
            return _error(507, "out of memory for this view; reduce width, depth or res")
        except Exception as exc:
            explorer.stats["errors"] += 1
            traceback.print_exc(file=sys.stderr)
            return _error(500, f"internal error ({type(exc).__name__}): {exc}")

    return wrapped


async def _options(request):
    from starlette.responses import JSONResponse

    explorer: Explorer = request.app.state.explorer
    return JSONResponse(
        {
            "infoprop_version": __version__,
            "choices": {k: list(v) for k, v in registries().items()},
            "defaults": {k: v for k, v in DEFAULTS.items()},
            "limits": {
                "sigma_max": SIGMA_MAX,
                "res": [MIN_RESOLUTION, MAX_RESOLUTION],
                "width_max": MAX_WIDTH,
                "depth_max": MAX_DEPTH,
            },
            "device": explorer.device,
            "export_dir": str(explorer.export_dir),
        }
    )


async def _view(request):
    from starlette.responses import JSONResponse

    explorer: Explorer = request.app.state.explorer
    query = _query(request)
    view = View.from_query(query)
    level = _request_int(query, "level", 0)
    seq = _request_int(query, "seq", 0)
    client = query.get("client") or None
    cancel = explorer.register(client, seq)
    try:
        if cancel.is_set():
            raise Cancelled("superseded by a newer request")
        response = await _run(request, cancel, explorer.view_response, view, level, cancel)
    finally:
        explorer.release(client, seq)
    explorer.stats["views_served"] += 1
    return JSONResponse(response, headers={"Cache-Control": "no-store"})


async def _status(request):
    from starlette.responses import JSONResponse

    explorer: Explorer = request.app.state.explorer
    running = explorer.running
    return JSONResponse(
        {"running": dict(running) if running else None, "stats": dict(explorer.stats)},
        headers={"Cache-Control": "no-store"},
    )


async def _export(request):
    from starlette.responses import JSONResponse

    explorer: Explorer = request.app.state.explorer
    if request.headers.get(WRITE_HEADER) != "1":
        return _error(403, f"export needs the header {WRITE_HEADER}: 1 (sent by the explorer page)")
    query = _query(request)
    view = View.from_query(query)
    cancel = threading.Event()
    result = await _run(request, cancel, explorer.export, view, query.get("name", ""), cancel)
    return JSONResponse(result, headers={"Cache-Control": "no-store"})


async def _not_found(request, exc):
    return _error(getattr(exc, "status_code", 404), getattr(exc, "detail", "not found"))


def warm_up(activation: str = DEFAULTS["activation"]) -> None:
    """Load what a first view needs (colour maps, the PNG encoder, the activation's mean-field tables).

    A one-time cost of a server process (about 1.5 s for erf); the command line runs it in the background.
    """
    from matplotlib import colormaps
    from PIL import Image

    from ..meanfield import MeanField

    colormaps["magma"], Image.new("RGBA", (1, 1))
    MeanField(activation).critical_sigma_w(0.5)


def static_dir() -> Path:
    """Folder of the page's files (``index.html``, ``app.js``, ``app.css``)."""
    return Path(str(resources.files("infoprop._src.explore") / "static"))


def explorer_app(
    cache_dir: str | Path,
    export_dir: str | Path | None = None,
    *,
    device: str = "cpu",
    host: str = "127.0.0.1",
    cache_max: int | None = DEFAULT_CACHE_BYTES,
):
    """The explorer's Starlette application.

    Parameters
    ----------
    cache_dir : path
        Directory for tiles and views (created; the explorer writes only under ``<cache_dir>/explore-v1``).
    export_dir : path, optional
        Where *export* writes ``<name>.zarr`` and ``<name>.png`` (default ``<cache_dir>/explore-v1/exports``).
    device : str
        Engine device (``"cpu"``, ``"cuda"``, ``"cuda:<index>"``).
    host : str
        The address the server binds; requests must name it (or a loopback name) in their ``Host`` header.
    cache_max : int or None
        Bound in bytes of the cached tiles and views (least recently used deleted first; exports never);
        None for no bound.
    """
    from starlette.applications import Starlette
    from starlette.exceptions import HTTPException
    from starlette.middleware import Middleware
    from starlette.middleware.trustedhost import TrustedHostMiddleware
    from starlette.responses import FileResponse, Response
    from starlette.routing import Mount, Route
    from starlette.staticfiles import StaticFiles

    explorer = Explorer(cache_dir, export_dir, device, cache_max)
    folder = static_dir()

    async def index(request):
        return FileResponse(folder / "index.html", headers={"Cache-Control": "no-cache"})

    async def favicon(request):
        return Response(status_code=204)

    hosts = ["*"] if host in ("0.0.0.0", "::", "") else sorted({*_LOOPBACK, host})
    app = Starlette(
        routes=[
            Route("/", index),
            Route("/favicon.ico", favicon),
            Route("/api/options", _guarded(_options)),
            Route("/api/view", _guarded(_view)),
            Route("/api/status", _guarded(_status)),
            Route("/api/export", _guarded(_export), methods=["POST"]),
            Mount("/static", StaticFiles(directory=folder), name="static"),
        ],
        middleware=[Middleware(TrustedHostMiddleware, allowed_hosts=hosts)],
        exception_handlers={HTTPException: _not_found},
    )
    app.state.explorer = explorer
    return app
