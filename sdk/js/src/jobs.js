// @ts-check
/**
 * `hanzo:node/jobs` (api world, `permissions.jobs = true`): the node's
 * durable job queue, scoped to the caller's tenant. Failures throw
 * {@link JobsError}. `u64` fields (times, `timeoutMs`) are BigInts.
 * @module jobs
 */
import * as host from 'hanzo:node/jobs@0.3.4';
import { JobsError, hostCall } from './errors.js';

/**
 * @typedef {object} JobSpec
 * @property {'tool' | 'llm' | 'agent'} kind
 * @property {any} input its shape depends on `kind` (see the WIT); sent as JSON
 * @property {number} [priority]
 * @property {string[]} [parents]
 * @property {'fail' | 'skip'} [onParentFailure]
 * @property {{maxAttempts: number, initialDelayMs: bigint, maxDelayMs: bigint, multiplier: number, randomization: number}} [retry]
 * @property {number | bigint} [timeoutMs]
 * @property {string} [idempotencyKey]
 */

export const jobs = {
  /**
   * Submits a job: `{job, existing}`.
   * @param {JobSpec} spec
   */
  submit(spec) {
    return hostCall(JobsError, () =>
      host.submit({
        kind: spec.kind,
        input: typeof spec.input === 'string' ? spec.input : JSON.stringify(spec.input),
        priority: spec.priority ?? 0,
        parents: spec.parents ?? [],
        onParentFailure: spec.onParentFailure ?? 'fail',
        retry: spec.retry,
        timeoutMs: spec.timeoutMs === undefined ? undefined : BigInt(spec.timeoutMs),
        idempotencyKey: spec.idempotencyKey,
      }),
    );
  },
  /** @param {string} id */
  get(id) {
    return hostCall(JobsError, () => host.get(id));
  },
  /**
   * A page of jobs, newest first: `{jobs, next}`.
   * @param {{state?: string, kind?: string, before?: string, limit?: number}} [filter]
   */
  list(filter = {}) {
    return hostCall(JobsError, () =>
      host.list({ state: filter.state, kind: filter.kind, before: filter.before, limit: filter.limit ?? 0 }),
    );
  },
  /** Messages with `seq > after`, at most `limit` (0: all). @param {string} id @param {number} [after] @param {number} [limit] */
  messages(id, after = 0, limit = 0) {
    return hostCall(JobsError, () => host.messages(id, after, limit));
  },
  /** @param {string} id */
  cancel(id) {
    return hostCall(JobsError, () => host.cancel(id));
  },
  /** @param {string} id @param {number} message @param {string} [append] */
  fork(id, message, append) {
    return hostCall(JobsError, () => host.fork(id, message, append));
  },
  /** @param {string} id @param {number} message */
  branch(id, message) {
    return hostCall(JobsError, () => host.branch(id, message));
  },
};
