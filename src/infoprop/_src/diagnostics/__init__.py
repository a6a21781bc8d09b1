"""Scale-invariant weight diagnostics (SPEC section 6): the implementation behind :mod:`infoprop.diagnostics`.

Modules, one concept each:

* :mod:`.statistics` -- segmentation into ``r x r`` blocks and the per-matrix statistics (support dimension,
  roughness, weight entropy) with their permutation null;
* :mod:`.surfaces` -- exact fractional Brownian surfaces, the planted reference for :func:`roughness`;
* :mod:`.phase` -- the phase-flow rule that classifies a (loss, gradient norm) trajectory's end;
* :mod:`.graph` -- the segment graph (exponential kernel, top-k), the graph neural network surrogate and its
  feature-only baselines;
* :mod:`.recorder` -- the small MLP / CNN, its training with per-epoch records, and segment importance;
* :mod:`.pipeline` -- :func:`diagnose`, which runs all of the above and returns one ``xarray.Dataset``.
"""
