"""Build the optional compiled accelerator (Cython) next to the pure-Python package.

Every extension is optional: without Cython or a C compiler the install still succeeds
and persistkit runs on its pure-Python reference code (``persistkit --version`` says
which). ``PERSISTKIT_PUREPYTHON=1`` at build time skips the build altogether.
"""

import glob
import os
import sys

from setuptools import setup
from setuptools.command.build_ext import build_ext


class OptionalBuildExt(build_ext):
    """Compile what can be compiled; a failure leaves the pure path, not a failed install."""

    def run(self):
        try:
            super().run()
        except Exception as exc:  # no compiler, no Python headers ...
            self._skip("the extension build", exc)

    def build_extension(self, ext):
        try:
            super().build_extension(ext)
        except Exception as exc:
            self._skip(ext.name, exc)

    @staticmethod
    def _skip(what, exc):
        sys.stderr.write(f"persistkit: {what} failed ({exc}); using the pure-Python path\n")


def extensions():
    if os.environ.get("PERSISTKIT_PUREPYTHON", "") not in ("", "0"):
        return []
    sources = sorted(glob.glob(os.path.join("persistkit", "_accel", "*.pyx")))
    # PERSISTKIT_ACCEL_ONLY=a,b builds just those modules (a quicker rebuild while working on one).
    only = {n for n in os.environ.get("PERSISTKIT_ACCEL_ONLY", "").split(",") if n}
    if only:
        sources = [s for s in sources if os.path.splitext(os.path.basename(s))[0] in only]
    if not sources:
        return []
    try:
        from Cython.Build import cythonize
    except ImportError:
        sys.stderr.write("persistkit: Cython not available; using the pure-Python path\n")
        return []
    from setuptools import Extension

    exts = [Extension("persistkit._accel." + os.path.splitext(os.path.basename(s))[0], [s],
                      extra_compile_args=["-O2"]) for s in sources]
    try:
        return cythonize(exts, language_level=3, quiet=True,
                         compiler_directives={"boundscheck": False, "wraparound": False,
                                              "cdivision": True, "initializedcheck": False})
    except Exception as exc:
        sys.stderr.write(f"persistkit: cythonize failed ({exc}); using the pure-Python path\n")
        return []


setup(ext_modules=extensions(), cmdclass={"build_ext": OptionalBuildExt})
