"""The model's numpy generators inside compiled kernels, at no cost per call.

A numba kernel can take a ``np.random.Generator`` as an argument, but numba then unboxes it on every
call (a dozen attribute lookups and ``ctypes`` casts: 12-30 us, more than most kernels' arithmetic).
``handle(generator)`` reads, once, the addresses numba's unboxing reads (the bit generator's state and
its ``next_uint64``/``next_uint32``/``next_double`` functions) into a small ``uint64`` array; a kernel
takes that array and calls ``generator(handle)`` to rebuild the same generator inside. Its draws are
the generator's own: they come from, and advance, the same bit generator, so a seed gives the same
bits as the Python generator (``tests/test_rng.py``). The Python generator must outlive the handle:
``sim.state.BattleState`` holds both.
"""

from __future__ import annotations

import ctypes

import numpy as np
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

# the bit generator's members numba reads (numba.core.boxing.unbox_numpy_random_bitgenerator), in the handle's order
_MEMBERS = ("state_address", "state", "fnptr_next_uint64", "fnptr_next_uint32", "fnptr_next_double")


def handle(generator: np.random.Generator) -> np.ndarray:
    """The addresses a kernel rebuilds ``generator`` from (``generator(handle)``), as a uint64 array."""
    binding = generator.bit_generator.ctypes

    def address(function: object) -> int:
        return ctypes.cast(function, ctypes.c_void_p).value

    return np.array(
        [
            binding.state_address,
            binding.state.value,
            address(binding.next_uint64),
            address(binding.next_uint32),
            address(binding.next_double),
        ],
        dtype=np.uint64,
    )


@intrinsic
def generator(typingctx, addresses):
    """Inside a kernel: the ``np.random.Generator`` whose ``handle`` is ``addresses``."""
    if not (isinstance(addresses, types.Array) and addresses.dtype == types.uint64 and addresses.ndim == 1):
        return None
    generator_type = types.NumPyRandomGeneratorType("generator")
    bit_generator_type = types.NumPyRandomBitGeneratorType("bit_generator")

    def codegen(context, builder, signature, args):
        array = context.make_array(signature.args[0])(context, builder, args[0])
        bit_generator = cgutils.create_struct_proxy(bit_generator_type)(context, builder)
        bit_generator.parent = context.get_constant_null(types.pyobject)
        for index, member in enumerate(_MEMBERS):
            value = builder.load(builder.gep(array.data, [ir.Constant(ir.IntType(64), index)]))
            setattr(bit_generator, member, value)
        bit_generator.bit_generator = ir.Constant(ir.IntType(64), 0)
        made = cgutils.create_struct_proxy(generator_type)(context, builder)
        made.bit_generator = bit_generator._getvalue()
        # no Python object behind it: the null meminfo makes numba's reference counting skip it
        made.meminfo = context.get_constant_null(types.MemInfoPointer(types.voidptr))
        made.parent = context.get_constant_null(types.pyobject)
        return made._getvalue()

    return generator_type(addresses), codegen
