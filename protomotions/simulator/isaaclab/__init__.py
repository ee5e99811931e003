"""Optional NVIDIA IsaacLab backend (``+simulator=isaaclab``).

Importing this package (or :mod:`.convert`, or :mod:`.simulator`) never imports IsaacLab, Isaac Sim,
Kit or warp: that happens only when :class:`~.simulator.IsaacLabSimulator` is constructed. Without
them, construction raises :class:`IsaacLabNotInstalledError`, whose text says what is missing, how
to install it and how to use the embedded MuJoCo backend instead.
"""

from __future__ import annotations

import importlib.util
import sys

# The packages this backend imports at construction: IsaacLab itself, and Isaac Sim, which provides
# Kit (the app we launch), the MJCF importer behind MjcfConverter and the PhysX runtime.
REQUIRED_PACKAGES: dict[str, str] = {
    "isaaclab": "NVIDIA IsaacLab (the 'isaaclab' Python package)",
    "isaacsim": "NVIDIA Isaac Sim (the 'isaacsim' Python package: Kit, the MJCF importer and PhysX)",
}
INSTALL_PAGE = "https://isaac-sim.github.io/IsaacLab/main/source/setup/installation/index.html"
# From IsaacLab's "Installation using Isaac Lab Pip Packages" page (release 2.3, Python 3.11).
PIP_PY311 = 'pip install "isaaclab[isaacsim,all]==2.3.0" --extra-index-url https://pypi.nvidia.com'


class IsaacLabNotInstalledError(ImportError):
    """``+simulator=isaaclab`` was selected but IsaacLab / Isaac Sim cannot be imported."""


def missing_packages() -> list[str]:
    """Names from :data:`REQUIRED_PACKAGES` that this Python environment cannot import."""
    return [name for name in REQUIRED_PACKAGES if importlib.util.find_spec(name) is None]


def not_installed_message(missing: list[str]) -> str:
    py = f"{sys.version_info.major}.{sys.version_info.minor}"
    what = "\n".join(f"    - {REQUIRED_PACKAGES[m]}" for m in missing)
    return (
        f"Error: simulator 'isaaclab' cannot start: this Python {py} environment is missing\n{what}\n"
        "  Install IsaacLab together with Isaac Sim (NVIDIA GPU and driver required; Linux x86_64 needs GLIBC >= 2.35):\n"
        f"    Python 3.11:  {PIP_PY311}\n"
        "    Python 3.12:  IsaacLab 3.x with Isaac Sim 6, following the pip instructions of its release at\n"
        f"                  {INSTALL_PAGE}\n"
        "  (IsaacLab 3's kit-less Newton mode is not enough: this backend converts the MJCF with Isaac Sim's importer.)\n"
        "  Or use the embedded default simulator, which needs nothing extra: +simulator=mujoco"
    )


def require_isaaclab() -> None:
    """Raise :class:`IsaacLabNotInstalledError` unless IsaacLab and Isaac Sim are importable."""
    missing = missing_packages()
    if missing:
        raise IsaacLabNotInstalledError(not_installed_message(missing), name=missing[0])


__all__ = ["IsaacLabNotInstalledError", "missing_packages", "not_installed_message", "require_isaaclab"]
