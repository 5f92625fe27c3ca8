"""The one platform every image is built for: CPython 3.11 on Debian bookworm, x86_64.

The lock (``uv pip compile``), the wheelhouse (``pip download``), the wheel-tag check, the
naive benchmark image, the base image pull and the build all take it from here.
"""

from __future__ import annotations

from typing import Final

#: The image's interpreter.
PYTHON_VERSION: Final = "3.11"
PYTHON_VERSION_INFO: Final = (3, 11)
#: Its ABI tag (``cp311``).
ABI: Final = f"cp{PYTHON_VERSION_INFO[0]}{PYTHON_VERSION_INFO[1]}"
#: The CPU architecture (wheel tags) and the engine's platform.
ARCH: Final = "x86_64"
DOCKER_PLATFORM: Final = "linux/amd64"
# The image's glibc (bookworm: 2.36) runs any manylinux_2_x wheel with x <= 36; the lock
# is resolved for manylinux_2_28, so these are the tags a locked wheel may carry.
MAX_GLIBC_MINOR: Final = 28
#: ``uv pip compile --python-platform``.
UV_PLATFORM: Final = f"{ARCH}-manylinux_2_{MAX_GLIBC_MINOR}"
#: The manylinux platform tags a wheel in the image may carry, newest first.
PLATFORMS: Final = (
    *(f"manylinux_2_{minor}_{ARCH}" for minor in range(MAX_GLIBC_MINOR, 4, -1)),
    f"manylinux2014_{ARCH}", f"manylinux2010_{ARCH}", f"manylinux1_{ARCH}",
)
