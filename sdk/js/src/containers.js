// @ts-check
/**
 * `hanzo:node/containers` (tool world): run an image the operator granted,
 * once, with a command, limits and no network unless granted (`run`), or
 * keep one running between calls and talk to it over its standard input and
 * output (`openProcess`, since hanzo:node 0.3.1). Needs
 * `permissions.containers` (the images) in the manifest and the operator's
 * grant in `[plugins.<name>] containers`; every call throws
 * {@link ContainersError} on failure (`denied` naming the grant,
 * `unavailable`, `image-not-found`, `invalid`, `failed`).
 *
 * ```js
 * const r = containers.run('hanzo-tools:1', ['sh', '-c', 'wc -c'], { stdin: 'hello' });
 * // r.exitCode, r.stdout (Uint8Array), r.timedOut
 * const p = containers.openProcess('repl', containers.spec('python-tools:1'));
 * try {
 *   p.write('1 + 1\n');
 *   const answer = p.read(4096, 1000);
 * } finally {
 *   p.close(); // given back, still running, to the next open of this key
 * }
 * ```
 * @module containers
 */
import * as host from 'hanzo:node/containers@0.3.4';
import { ContainersError, hostCall } from './errors.js';

const dispose = Symbol.dispose || Symbol.for('dispose');
const encoder = new TextEncoder();

/** @param {string | Uint8Array} v */
const bytes = (v) => (typeof v === 'string' ? encoder.encode(v) : v);

/**
 * @typedef {{env?: Record<string, string>, stdin?: string | Uint8Array, workdir?: string, memoryMb?: number,
 *   cpuMillis?: number, pids?: number, timeoutMs?: number, network?: boolean}} RunOptions
 */

/** A process kept running between calls (see `containers.openProcess`). */
export class ContainerProcess {
  /** @param {any} handle */
  constructor(handle) {
    /** @private */ this._handle = handle;
  }
  /** Whether this open started it (a stdio server is then to be set up). */
  get fresh() {
    return this._handle.fresh();
  }
  /** Writes to its standard input. @param {string | Uint8Array} data */
  write(data) {
    hostCall(ContainersError, () => this._handle.write(bytes(data)));
  }
  /**
   * Its standard output: what is there, else what comes within `waitMs`, at
   * most `maxBytes`. Empty: nothing in time; `undefined`: it ended and
   * everything was read.
   * @param {number} [maxBytes] @param {number} [waitMs]
   * @returns {Uint8Array | undefined}
   */
  read(maxBytes = 65536, waitMs = 1000) {
    return hostCall(ContainersError, () => this._handle.read(maxBytes, waitMs)) ?? undefined;
  }
  /** The last of its standard error. @returns {Uint8Array} */
  stderrTail() {
    return this._handle.stderrTail();
  }
  /** Its exit code, once it ended. @returns {number | undefined} */
  exitCode() {
    return this._handle.exitCode() ?? undefined;
  }
  /** Stops and removes it now, instead of giving it back. */
  stop() {
    this._handle.stop();
    this.close();
  }
  /** Gives it back to the node, still running. */
  close() {
    const h = this._handle;
    this._handle = undefined;
    h?.[dispose]?.();
  }
}

export const containers = {
  /**
   * A run of `image` (its own command when `command` is empty), with
   * `stdin` as its input; unset limits are the node's, and there is no
   * network unless `network` (and the operator grants it).
   * @param {string} image @param {string[]} [command] @param {RunOptions} [opts]
   */
  spec(image, command = [], opts = {}) {
    return {
      image,
      command,
      env: Object.entries(opts.env ?? {}),
      stdin: bytes(opts.stdin ?? new Uint8Array()),
      workdir: opts.workdir,
      memoryMb: opts.memoryMb,
      cpuMillis: opts.cpuMillis,
      pids: opts.pids,
      timeoutMs: opts.timeoutMs,
      network: !!opts.network,
    };
  },
  /**
   * Runs `image` to its end (or its timeout): `exitCode` (undefined when it
   * was killed), `stdout`, `stderr` (Uint8Arrays), `truncated`, `timedOut`,
   * `durationMs` (a bigint).
   * @param {string} image @param {string[]} [command] @param {RunOptions} [opts]
   */
  run(image, command = [], opts = {}) {
    const spec = containers.spec(image, command, opts);
    return hostCall(ContainersError, () => host.run(spec));
  },
  /**
   * The idle process of this key and spec, else a new one (`spec.stdin`
   * written first). `idleMs`: how long it may wait unused (undefined: the
   * node's ceiling).
   * @param {string} key @param {ReturnType<typeof containers.spec>} spec @param {number} [idleMs]
   */
  openProcess(key, spec, idleMs) {
    return new ContainerProcess(hostCall(ContainersError, () => host.Process.open(key, spec, idleMs)));
  },
};
