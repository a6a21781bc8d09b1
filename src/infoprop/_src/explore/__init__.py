"""``infoprop explore``: a local web application to zoom into the order/chaos frontier of one network draw.

* :mod:`.view`: what one view is (network, metric, window, resolution), validated from a URL query, with the
  memory check and the coarse-to-fine levels;
* :mod:`.tiles`: the window computed in tiles by the finite-width engine, cached on disk by a hash of every
  parameter, cancellable between and inside tiles;
* :mod:`.render`: colour-mapped PNGs, the threshold boundary, its box-counting dimension, the mean-field line;
* :mod:`.server`: the Starlette application (JSON API + the static page in ``static/``).
"""
