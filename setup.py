"""Build of the runtime's compiled core (everything else is in pyproject.toml)."""

from setuptools import Extension, setup

setup(ext_modules=[
    Extension("partcfg.runtime._ring", ["partcfg/runtime/_ring.c"],
              extra_compile_args=["-O2", "-Wall", "-Wno-missing-field-initializers"]),
    # the reference ring bench/runtime.py measures partcfg's rings against, in the same run
    Extension("partcfg.runtime._ringref", ["partcfg/runtime/_ringref.c"],
              extra_compile_args=["-O2", "-Wall", "-Wno-missing-field-initializers"]),
])
