"""`infoprop meanfield`: the mean-field phase diagram of one activation (zarr store, figure, summary)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import numpy as np
import typer

from ._common import MaxMemory, Overwrite, apply_max_memory, console, sigma_grid

DEFAULT_SIGMA_W = "0.5:4:256"
DEFAULT_SIGMA_B = "0:2:256"
PLOT_VARIABLES = ("chi1", "xi_c", "phase", "q_star", "c_star", "chi_q", "chi_c", "xi_q", "xi_grad")


def _activation_params(items: list[str] | None) -> dict[str, float]:
    params: dict[str, float] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        try:
            if not sep or not key:
                raise ValueError
            params[key.strip()] = float(value)
        except ValueError:
            raise ValueError(f"--activation-param must be key=value with a number value, got {item!r}") from None
    return params


def _summary(ds, mf, seconds: float) -> str:
    from .._src.meanfield import PHASES

    phase = ds.phase.values
    fractions = ", ".join(f"{name} {np.mean(phase == i):.1%}" for i, name in enumerate(PHASES))
    sw, sb = ds.sigma_w.values, ds.sigma_b.values
    picks = np.unique(np.linspace(sb.min(), sb.max(), 4))
    crit = mf.critical_sigma_w(picks)
    lines = [
        f"grid: sigma_w {sw.min():g}..{sw.max():g} ({sw.size}) x sigma_b {sb.min():g}..{sb.max():g} ({sb.size}), "
        f"standard deviations; {seconds:.2f} s",
        f"phases: {fractions}",
        "critical sigma_w (chi_1 = 1): "
        + ", ".join(
            f"sigma_b={b:.3g} -> " + ("none" if np.isnan(w) else f"{w:.6g} (sigma_w^2={w * w:.6g})")
            for b, w in zip(picks, np.atleast_1d(crit))
        ),
    ]
    return "\n".join(lines)


def register(app: typer.Typer) -> None:
    """Add this module's command(s) to ``app``."""

    @app.command("meanfield")
    def meanfield(
        activation: Annotated[str, typer.Option("--activation", help="Activation name (see docs).")] = "tanh",
        activation_param: Annotated[
            list[str] | None,
            typer.Option("--activation-param", help="Activation parameter key=value, e.g. negative_slope=0.1."),
        ] = None,
        sigma_w: Annotated[
            str | None,
            typer.Option("--sigma-w", help=f"Weight STD range start:stop:count [default {DEFAULT_SIGMA_W}]."),
        ] = None,
        sigma_w2: Annotated[
            str | None, typer.Option("--sigma-w2", help="Weight VARIANCE range start:stop:count.")
        ] = None,
        sigma_b: Annotated[
            str | None, typer.Option("--sigma-b", help=f"Bias STD range start:stop:count [default {DEFAULT_SIGMA_B}].")
        ] = None,
        sigma_b2: Annotated[
            str | None, typer.Option("--sigma-b2", help="Bias VARIANCE range start:stop:count.")
        ] = None,
        method: Annotated[str, typer.Option("--method", help="fast | quadrature.")] = "fast",
        out: Annotated[Path, typer.Option("--out", help="Zarr store to write.")] = Path("out/meanfield.zarr"),
        plot: Annotated[Path | None, typer.Option("--plot", help="Figure to write (.png, .pdf or .svg).")] = None,
        variable: Annotated[
            str, typer.Option("--variable", help="Variable shown in the figure: chi1 | xi_c | ...")
        ] = "chi1",
        overwrite: Overwrite = False,
        max_memory: MaxMemory = None,
    ) -> None:
        """Mean-field phase diagram (q*, chi_1, chi_q, c*, chi_c, depth scales, phase) over a sigma grid."""
        import time

        from rich.progress import Progress

        from .._src.common import check_choice, check_output, save_figure, write_zarr
        from .._src.meanfield import MeanField

        apply_max_memory(max_memory)
        check_output(out, "store", overwrite=overwrite, name="--out")
        if plot is not None:
            check_output(plot, "figure", overwrite=overwrite, name="--plot")
        sw, sb = sigma_grid(sigma_w, sigma_w2, sigma_b, sigma_b2, DEFAULT_SIGMA_W, DEFAULT_SIGMA_B)
        check_choice("--variable", variable, PLOT_VARIABLES)
        mf = MeanField(activation, method=method, **_activation_params(activation_param))
        start = time.perf_counter()
        with Progress(console=console, transient=True) as progress:
            task = progress.add_task("mean field", total=sw.size)
            ds = mf.phase_diagram(sw, sb, progress=lambda done, total: progress.update(task, completed=done))
        seconds = time.perf_counter() - start
        write_zarr(ds, out, "--out", overwrite=overwrite)
        if plot is not None:
            from .._src.plots.meanfield import plot_phase_diagram

            save_figure(plot_phase_diagram(ds, variable), plot, "--plot", overwrite=overwrite)
        print(_summary(ds, mf, seconds))
        print(f"wrote {out}" + (f" and {plot}" if plot is not None else ""))
