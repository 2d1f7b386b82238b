// @ts-check
/**
 * `hanzo:node/gpu` (every world, `permissions.gpu = true`, since hanzo:node
 * 0.3.3): the node's NVIDIA GPUs, read live through NVML. A node without a
 * GPU answers an empty list. Memory is in MiB, as `bigint` (WIT `u64`).
 * @module gpu
 */
import * as host from 'hanzo:node/gpu@0.3.4';
import { GpuError, hostCall } from './errors.js';

export const gpu = {
  /**
   * The node's GPUs now; empty where there is none.
   * @returns {{index: number, name: string, uuid: string, memoryTotalMb: bigint, memoryFreeMb: bigint,
   *   utilizationPct?: number, temperatureC?: number, confidentialComputing?: boolean}[]}
   */
  devices() {
    return hostCall(GpuError, () => host.devices());
  },
};
