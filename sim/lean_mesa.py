"""Mesa imported without three libraries that a battle does not use: ``from sim.lean_mesa import mesa``.

``import mesa`` imports pandas (``mesa.agent`` and Mesa's experimental data recorders import it at
their top, for functions the battle never calls; pandas 3 imports pyarrow with itself), networkx
(``mesa.discrete_space.network``, the network space) and scipy's spatial module (the KD-trees of
the hexagonal, network and Voronoi spaces): about 100 MB of a process's memory that a battle,
``qusayr bench`` and a sweep's worker do not use. Here Mesa is imported while ``sys.modules`` holds
a stand-in for each. What Mesa's modules look up in a stand-in while they are imported (``from
scipy.spatial import KDTree``, the default ``nx.spring_layout``) is a callable that imports the
library when it is first called; what they look up later (``pd.Series`` in ``mesa.agent``) is the
library's own, imported then. The stand-ins leave ``sys.modules`` once Mesa is imported: every other
import of these libraries gets the real ones. A library already imported is not deferred, and when
Mesa is already imported, this imports Mesa as it is.
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import Any

_DEFERRED = ("pandas", "networkx", "scipy.spatial", "scipy.spatial.distance")


class _DeferredAttribute:
    """A library's class or function that Mesa looked up while being imported: imports the library when called."""

    def __init__(self, module: str, name: str) -> None:
        self.module, self.name = module, name

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return getattr(importlib.import_module(self.module), self.name)(*args, **kwargs)


class _Deferred(types.ModuleType):
    """Stands for the library of its name in ``sys.modules`` while Mesa is imported (see the module)."""

    def __getattr__(self, attribute: str) -> object:
        if attribute.startswith("__"):  # the import system's and inspect's probes: no reason to import
            raise AttributeError(attribute)
        if sys.modules.get(self.__name__) is self:  # Mesa is being imported
            return _DeferredAttribute(self.__name__, attribute)
        return getattr(importlib.import_module(self.__name__), attribute)


def _import_mesa() -> types.ModuleType:
    if "mesa" in sys.modules:
        return importlib.import_module("mesa")
    stand_ins = {name: _Deferred(name) for name in _DEFERRED if name not in sys.modules}
    sys.modules.update(stand_ins)
    try:
        return importlib.import_module("mesa")
    finally:
        for name, stand_in in stand_ins.items():
            if sys.modules.get(name) is stand_in:
                del sys.modules[name]


mesa = _import_mesa()
