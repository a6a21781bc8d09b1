"""`infoprop meanfield`: the mean-field phase diagram of one activation (zarr store, figure, summary).

With ``--arch resnet`` (no fixed point) it writes the residual asymptotics instead, and with ``--depth D`` also the
depth-D moments of two independent unit inputs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import numpy as np
import typer

from ._common import MaxMemory, Overwrite, apply_max_memory, progress_bar, sigma_grid

DEFAULT_SIGMA_W = "0.5:4:256"
DEFAULT_SIGMA_B = "0:2:256"
PLOT_VARIABLES = ("chi1", "xi_c", "phase", "q_star", "c_star", "chi_q", "chi_c", "xi_q", "xi_grad")
RESIDUAL_VARIABLES = ("c_limit", "c_exponent", "q_slope", "q_ratio")
DEPTH_VARIABLES = ("c", "divergence", "q11", "q12")


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


def _residual_summary(ds, seconds: float) -> str:
    def span(name: str) -> str:
        values = ds[name].values
        finite = values[np.isfinite(values)]
        if not finite.size:
            return "inf" if np.isinf(values).any() else "undefined (set by the inputs)"
        low, high = finite.min(), finite.max()
        text = f"{low:.4g}" if low == high else f"{low:.4g}..{high:.4g}"
        return text + (" (inf where q grows geometrically)" if np.isinf(values).any() else "")

    sw, sb = ds.sigma_w.values, ds.sigma_b.values
    lines = [
        f"grid: sigma_w {sw.min():g}..{sw.max():g} ({sw.size}) x sigma_b {sb.min():g}..{sb.max():g} ({sb.size}), "
        f"standard deviations; {seconds:.2f} s",
        "residual network: no fixed point, q^l grows with depth",
    ]
    if "c_limit" in ds.data_vars:
        lines += [
            f"q^l / l -> {span('q_slope')}; q^(l+1) / q^l -> {span('q_ratio')}",
            f"c^l -> {span('c_limit')}, |c^l - c_limit| ~ l^-delta with delta {span('c_exponent')}",
        ]
    if "c" in ds.data_vars:
        depth = int(ds["layer"])
        lines.append(f"depth {depth} (independent unit inputs): c {span('c')}, divergence {span('divergence')}")
    else:
        lines.append("add --depth D for the moments at depth D")
    return "\n".join(lines)


def _residual(mf, sw: np.ndarray, sb: np.ndarray, depth: int | None, progress):
    """Residual asymptotics on the grid, and the depth-D moments of two independent unit inputs if asked."""
    import xarray as xr

    if not mf.has_residual_asymptotics:  # the caller checked that depth is given
        return mf.trajectory(sw, sb, q0=1.0, c0=0.0, depth=depth, layers=[depth], progress=progress).isel(layer=0)
    ds = mf.residual_asymptotics(sw, sb)
    if depth:
        trajectory = mf.trajectory(sw, sb, q0=1.0, c0=0.0, depth=depth, layers=[depth], progress=progress)
        ds = xr.merge([ds, trajectory.isel(layer=0)], combine_attrs="override")
        ds.attrs["parameters_trajectory"] = trajectory.attrs["parameters"]
    return ds


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
        arch: Annotated[
            str,
            typer.Option(
                "--arch", help="mlp | orthogonal | fdfd | cnn | fdf (odd activations) | resnet | <arch>+residual."
            ),
        ] = "mlp",
        depth: Annotated[
            int | None,
            typer.Option("--depth", help="resnet only: also write the moments at this depth (independent inputs)."),
        ] = None,
        out: Annotated[Path, typer.Option("--out", help="Zarr store to write.")] = Path("out/meanfield.zarr"),
        plot: Annotated[Path | None, typer.Option("--plot", help="Figure to write (.png, .pdf or .svg).")] = None,
        variable: Annotated[
            str | None,
            typer.Option(
                "--variable", help="Variable shown in the figure: chi1 | xi_c | ... (resnet: c_limit | c | ...)."
            ),
        ] = None,
        overwrite: Overwrite = False,
        max_memory: MaxMemory = None,
    ) -> None:
        """Mean-field phase diagram (q*, chi_1, chi_q, c*, chi_c, depth scales, phase) over a sigma grid.

        With --arch resnet: residual asymptotics (q_slope, q_ratio, c_limit, c_exponent), and with --depth D the
        moments at depth D.
        """
        import time

        from .._src.common import check_choice, check_int, check_output, save_figure, write_zarr
        from .._src.meanfield import MeanField

        apply_max_memory(max_memory)
        check_output(out, "store", overwrite=overwrite, name="--out")
        if plot is not None:
            check_output(plot, "figure", overwrite=overwrite, name="--plot")
        sw, sb = sigma_grid(sigma_w, sigma_w2, sigma_b, sigma_b2, DEFAULT_SIGMA_W, DEFAULT_SIGMA_B)
        mf = MeanField(activation, arch=arch, method=method, **_activation_params(activation_param))
        if mf.residual:
            if depth is not None:
                check_int("--depth", depth, minimum=1)
            if not (mf.has_residual_asymptotics or depth):
                raise ValueError(
                    f"--arch resnet: activation {mf.activation.name!r} has no known asymptotic form, so only the "
                    "moments at a given depth are available: give --depth D"
                )
            allowed = (RESIDUAL_VARIABLES if mf.has_residual_asymptotics else ()) + (DEPTH_VARIABLES if depth else ())
            variable = check_choice("--variable", variable or allowed[0], allowed)
        else:
            if depth is not None:
                raise ValueError(
                    f"--depth applies to --arch resnet only; --arch {arch} writes its fixed points "
                    "(for depth-D moments use MeanField(...).trajectory in Python)"
                )
            variable = check_choice("--variable", variable or "chi1", PLOT_VARIABLES)
        start = time.perf_counter()
        if mf.residual:
            with progress_bar("residual mean field", "layers") as progress:
                ds = _residual(mf, sw, sb, depth, progress)
        else:
            with progress_bar("mean field", "sigma_w rows") as progress:
                ds = mf.phase_diagram(sw, sb, progress=progress)
        seconds = time.perf_counter() - start
        write_zarr(ds, out, "--out", overwrite=overwrite)
        if plot is not None:
            from .._src.plots.meanfield import plot_phase_diagram

            save_figure(plot_phase_diagram(ds, variable), plot, "--plot", overwrite=overwrite)
        print(_residual_summary(ds, seconds) if mf.residual else _summary(ds, mf, seconds))
        print(f"wrote {out}" + (f" and {plot}" if plot is not None else ""))
