"""Which operators does the feed-forward mean-field map describe? Finite-width q^D against the mean field.

    python examples/meanfield_operators.py [--seeds 8] [--depth 8]

For each arch and activation: one network per seed (float64, sigma_w = 1.2 (relu) / 1.5 (tanh), sigma_b = 0.3,
independent unit inputs), the ratio of the measured q^D (``RandomNetwork.moments``) to the mean-field q^D
(``MeanField.trajectory``), as mean and standard deviation over seeds, at two widths. A map that holds has
mean -> 1 and spread -> 0 as the width grows. Prints a Markdown table (docs/meanfield.md).
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

from infoprop._src.meanfield import MeanField
from infoprop._src.networks import RandomNetwork

CASES = {"relu": 1.2, "tanh": 1.5}
SIGMA_B = 0.3
WIDTHS = {"mlp": (1024, 4096), "fdfd": (1024, 8192), "fdf": (1024, 8192), "cnn": (1024, 8192)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=8)
    parser.add_argument("--depth", type=int, default=8)
    args = parser.parse_args()
    torch.set_num_threads(1)
    print("| activation | arch | width | q^D / mean field: mean | spread over seeds |")
    print("| --- | --- | --- | --- | --- |")
    for activation, sigma_w in CASES.items():
        reference = MeanField(activation).trajectory(sigma_w, SIGMA_B, q0=1.0, c0=0.0, depth=args.depth)
        q_mf = float(reference.q11.values[-1])
        for arch, widths in WIDTHS.items():
            for width in widths:
                ratios = []
                for seed in range(args.seeds):
                    net = RandomNetwork(arch, width, args.depth, activation, seed=seed, dtype="float64")
                    moments = net.moments(sigma_w, SIGMA_B, layers=[args.depth])
                    ratios.append(float(moments.q11.values.ravel()[-1]) / q_mf)
                ratios = np.array(ratios)
                print(f"| {activation} | {arch} | {width} | {ratios.mean():.3f} | {ratios.std():.3f} |")


if __name__ == "__main__":
    main()
