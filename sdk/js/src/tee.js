// @ts-check
/**
 * `hanzo:node/tee` (every world, `permissions.tee = true`, since
 * hanzo:node 0.3.3): the node's trusted execution environment, its verified
 * privacy tier, and fresh attestation evidence binding a caller's nonce to
 * the node's Ed25519 key. Every call throws {@link TeeError} on failure; on a
 * node without a TEE, `attest` throws `absent`, saying what was looked for.
 *
 * ```js
 * const { platform, tier, reason } = tee.status();   // 'none' | 'sev-snp' | 'tdx'
 * if (tier >= 3) tee.attest(new TextEncoder().encode('a nonce from the peer'));
 * ```
 * @module tee
 */
import * as host from 'hanzo:node/tee@0.3.4';
import { TeeError, hostCall } from './errors.js';

export const tee = {
  /**
   * The platform, the node's verified privacy tier (0 to 4), why, and the
   * launch measurement (hex) where there is one.
   * @returns {{platform: 'none' | 'sev-snp' | 'tdx', tier: number, reason: string, measurement?: string}}
   */
  status() {
    return hostCall(TeeError, () => host.status());
  },
  /**
   * Fresh evidence whose report data is blake3(`nonce`) followed by the
   * node's public key (`nonce`: 1 to 1024 bytes, or text as UTF-8).
   * @param {Uint8Array | string} nonce
   */
  attest(nonce) {
    const bytes = typeof nonce === 'string' ? new TextEncoder().encode(nonce) : nonce;
    return hostCall(TeeError, () => host.attest(bytes));
  },
};
