"""Mesa imported without pandas until something uses pandas: ``from sim.lean_mesa import mesa``.

``import mesa`` imports pandas (``mesa.agent`` and Mesa's experimental data recorders import it at
their top, for functions the battle never calls), and pandas 3 imports pyarrow with itself: about
60 MB of a process's memory that a battle, ``qusayr bench`` and a sweep's worker do not use. Here
Mesa is imported while ``sys.modules["pandas"]`` holds a stand-in; Mesa's modules keep the
stand-in, whose first attribute looked up imports the real pandas and answers from it. The stand-in
leaves ``sys.modules`` once Mesa is imported: every other ``import pandas`` of the process gets the
real one. When Mesa or pandas is already imported, this imports Mesa as it is.
"""

from __future__ import annotations

import importlib
import sys
import types

_DEFERRED = "pandas"


class _Deferred(types.ModuleType):
    """Stands for the module of its name until an attribute is looked up: then imports it and answers from it."""

    def __getattr__(self, attribute: str) -> object:
        if attribute.startswith("__"):  # the import system's and inspect's probes: no reason to import
            raise AttributeError(attribute)
        if sys.modules.get(self.__name__) is self:  # looked up while Mesa is being imported
            del sys.modules[self.__name__]
        return getattr(importlib.import_module(self.__name__), attribute)


def _import_mesa() -> types.ModuleType:
    if "mesa" in sys.modules or _DEFERRED in sys.modules:
        return importlib.import_module("mesa")
    stand_in = sys.modules[_DEFERRED] = _Deferred(_DEFERRED)
    try:
        return importlib.import_module("mesa")
    finally:
        if sys.modules.get(_DEFERRED) is stand_in:
            del sys.modules[_DEFERRED]


mesa = _import_mesa()
