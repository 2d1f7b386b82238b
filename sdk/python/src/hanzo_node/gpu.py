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

from componentize_py_types import Err
from wit_world.imports import gpu as _wit

from .errors import GpuError

Device = _wit.Device


def devices() -> List[Device]:
    """The node's GPUs now; empty where there is none."""
    try:
        return _wit.devices()
    except Err as e:
        raise GpuError.from_wit(e.value) from None
