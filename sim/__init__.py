"""qusayr: an agent-based Mesa model of the second battle of al-Qusayr (2013)."""

from sim.kernel_cache import use_kernel_cache

use_kernel_cache()  # before any kernel is compiled or loaded: see sim/kernel_cache.py
