"""The node's NVIDIA GPUs (``hanzo:node/gpu``, since hanzo:node 0.3.3), read
live through NVML: name, memory, utilisation, temperature and
confidential-computing mode. A node without a GPU answers an empty list.
Needs ``permissions.gpu = true`` in the manifest, granted by the operator;
else :class:`~hanzo_node.errors.GpuError` of kind ``denied``.

    from hanzo_node import gpu
    free = max((d.memory_free_mb for d in gpu.devices()), default=0)
"""

from __future__ import annotations

from typing import List

from wit_world.imports import gpu as _wit

from .errors import GpuError, host_caller

Device = _wit.Device

_call = host_caller(GpuError)


def devices() -> List[Device]:
    """The node's GPUs now; empty where there is none."""
    return _call(_wit.devices)
