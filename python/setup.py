"""Build step of the tft wheel: libtft.so from the repository's Makefile, copied into the package.

The library is built CUDA=0 (the forward runs on the CPU in every build today, and a CUDA build
would tie the wheel to the CUDA runtime libraries); it needs only libc, libm and libpthread, and
picks its AVX2/FMA kernels at run time, so the wheel runs on any x86-64 Linux with a recent glibc.
TFT_MAKE_FLAGS adds make arguments (e.g. "OPT=-O2"). The wheel is tagged py3-none-<platform>:
ctypes needs no particular Python ABI.
"""

import os
import shlex
import shutil
import subprocess
from pathlib import Path

from setuptools import Distribution, setup
from setuptools.command.build_py import build_py

try:
    from setuptools.command.bdist_wheel import bdist_wheel
except ImportError:  # setuptools < 70.1
    from wheel.bdist_wheel import bdist_wheel

HERE = Path(__file__).resolve().parent
REPO = HERE.parent


class BuildWithLibtft(build_py):
    def run(self) -> None:
        super().run()
        if not (REPO / "Makefile").exists() or not (REPO / "engine" / "tft.h").exists():
            raise RuntimeError(f"tft: the C sources are not at {REPO}; build the wheel from a checkout "
                               "(pip install ./python from the repository root)")
        flags = ["CUDA=0"] + shlex.split(os.environ.get("TFT_MAKE_FLAGS", ""))
        jobs = os.environ.get("TFT_MAKE_JOBS", str(min(4, os.cpu_count() or 1)))
        subprocess.run(["make", "-C", str(REPO), f"-j{jobs}", *flags, "lib"], check=True)
        build = subprocess.run(["make", "-s", "--no-print-directory", "-C", str(REPO), *flags, "print-build"],
                               check=True, capture_output=True, text=True).stdout.strip()
        so = REPO / build / "libtft.so"
        dest = Path(self.build_lib) / "tft" / "libtft.so"
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(so.resolve(), dest)  # the real file, not the symlink chain


class BinaryDistribution(Distribution):
    def has_ext_modules(self) -> bool:
        return True  # carries a native library: a platform wheel, installed to platlib


class PlatformWheel(bdist_wheel):
    def get_tag(self):
        _, _, plat = super().get_tag()
        return "py3", "none", plat  # any CPython 3 (ctypes), this platform


setup(distclass=BinaryDistribution, cmdclass={"build_py": BuildWithLibtft, "bdist_wheel": PlatformWheel})
