"""`infoprop landscape`: one finite-width draw evaluated over a (sigma_w, sigma_b) grid (zarr, figure, summary)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import numpy as np
import typer

from .._src.arch import ARCHS
from .._src.metrics import FORWARD_METRICS, METRICS
from ._common import MaxMemory, Overwrite, apply_max_memory, progress_bar, sigma_grid

DEFAULT_RANGE = "0:4:256"


def _summary(da, seconds: float, points: int, depth: int) -> str:
    values = np.asarray(da.values, dtype=float)
    finite = values[np.isfinite(values)]
    metric = da.attrs["metric"]
    lines = [
        f"{da.attrs['arch']} N={da.attrs['width']} D={depth} {da.attrs['activation']} seed={da.attrs['seed']} "
        f"{da.attrs['dtype']}: {points} grid points in {seconds:.2f} s ({points * depth / seconds:.3g} point-layers/s)",
    ]
    if finite.size:
        lines.append(
            f"{da.name}: min {finite.min():.4g}, median {np.median(finite):.4g}, max {finite.max():.4g}"
            + (f"; {values.size - finite.size} non-finite" if finite.size < values.size else "")
        )
    if metric == "lyapunov":
        lines.append(f"ordered (lambda < 0): {np.mean(values < 0):.1%} of the grid")
    else:
        lines.append(f"exactly 0 (states merged): {np.mean(values == 0):.1%}; below 1e-5: {np.mean(values < 1e-5):.1%}")
    return "\n".join(lines)


def register(app: typer.Typer) -> None:
    """Add this module's command(s) to ``app``."""

    @app.command("landscape")
    def landscape(
        arch: Annotated[
            str, typer.Option("--arch", help=f"{' | '.join(ARCHS)}, or NAME+residual (e.g. cnn+residual).")
        ] = "mlp",
        width: Annotated[int, typer.Option("--width", help="Width N.")] = 100,
        depth: Annotated[int, typer.Option("--depth", help="Depth D (layers).")] = 1000,
        activation: Annotated[str, typer.Option("--activation", help="Activation name.")] = "erf",
        sigma_w: Annotated[
            str | None, typer.Option("--sigma-w", help=f"Weight STD range start:stop:count [default {DEFAULT_RANGE}].")
        ] = None,
        sigma_w2: Annotated[str | None, typer.Option("--sigma-w2", help="Weight VARIANCE range.")] = None,
        sigma_b: Annotated[
            str | None, typer.Option("--sigma-b", help=f"Bias STD range start:stop:count [default {DEFAULT_RANGE}].")
        ] = None,
        sigma_b2: Annotated[str | None, typer.Option("--sigma-b2", help="Bias VARIANCE range.")] = None,
        metric: Annotated[str, typer.Option("--metric", help=" | ".join(METRICS) + ".")] = "forward",
        inputs: Annotated[str, typer.Option("--inputs", help="independent | perturbed (forward metrics only).")] = (
            "independent"
        ),
        eps: Annotated[float, typer.Option("--eps", help="Perturbation size for --inputs perturbed.")] = 1e-5,
        seed: Annotated[int, typer.Option("--seed", help="Seed of the single draw.")] = 0,
        dtype: Annotated[str, typer.Option("--dtype", help="float32 | float64.")] = "float32",
        device: Annotated[str, typer.Option("--device", help="cpu | cuda | cuda:<index>.")] = "cpu",
        kernel_size: Annotated[int | None, typer.Option("--kernel-size", help="cnn kernel size [width].")] = None,
        out: Annotated[Path, typer.Option("--out", help="Zarr store to write.")] = Path("out/landscape.zarr"),
        plot: Annotated[Path | None, typer.Option("--plot", help="Figure to write (.png, .pdf or .svg).")] = None,
        overwrite: Overwrite = False,
        max_memory: MaxMemory = None,
    ) -> None:
        """Forward/backward divergence or Lyapunov exponent of ONE random network over a sigma grid."""
        import time

        from .._src.arch import get_arch
        from .._src.common import check_choice, check_output
        from .._src.landscape import compute_landscape, make_network, write_landscape

        apply_max_memory(max_memory)
        check_output(out, "store", overwrite=overwrite, name="--out")
        if plot is not None:
            check_output(plot, "figure", overwrite=overwrite, name="--plot")
        sw, sb = sigma_grid(sigma_w, sigma_w2, sigma_b, sigma_b2, DEFAULT_RANGE, DEFAULT_RANGE)
        check_choice("--metric", metric, METRICS)
        if metric not in FORWARD_METRICS and inputs != "independent":
            raise ValueError(
                f"--inputs applies to the forward metrics only ({', '.join(FORWARD_METRICS)}), got --metric {metric}"
            )
        if kernel_size is not None and get_arch(arch).operator != "conv":
            raise ValueError(f"--kernel-size applies to --arch cnn only, got --arch {arch}")
        net = make_network(
            arch, width, depth, activation, seed=seed, dtype=dtype, device=device, kernel_size=kernel_size
        )
        start = time.perf_counter()
        with progress_bar(f"{arch} {metric}", "points") as progress:
            da = compute_landscape(net, metric, sw, sb, inputs=inputs, eps=eps, progress=progress)
        seconds = time.perf_counter() - start
        write_landscape(da, out, plot, overwrite=overwrite)
        print(_summary(da, seconds, sw.size * sb.size, depth))
        print(f"wrote {out}" + (f" and {plot}" if plot is not None else ""))
