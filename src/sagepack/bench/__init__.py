"""``invoke bench``: the benchmarks (packaging, builds, serving, multi-model serving, batch
transform), each run against sagepack's own code and a baseline, each writing
``<out>/<what>.json``.

Measures and reports only: how to package, build, start or serve a model lives in
:mod:`sagepack.archive`, :mod:`sagepack.images`, :mod:`sagepack.containers` and
:mod:`sagepack.serving`, never here.
"""
