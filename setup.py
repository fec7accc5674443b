"""The one compiled piece: tree-ensemble scoring (src/modelport/runtimes/_trees.c).

It is optional: without a C compiler the build goes on, and ONNX tree
ensembles are scored by ONNX Runtime alone (modelport.runtimes.onnx_trees).
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "modelport.runtimes._trees",
            ["src/modelport/runtimes/_trees.c"],
            extra_compile_args=["-O3", "-std=c99"],
            libraries=["m"],
            optional=True,
        )
    ]
)
