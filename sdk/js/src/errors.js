// @ts-check
/**
 * Typed errors that map onto the WIT error variants of `hanzo:node@0.3.4`.
 *
 * ComponentizeJS turns a thrown value into the `err` case of an exported
 * function's `result` when the value has a `payload` property (the WIT
 * variant as `{tag, val}`), and turns an imported function's `err` into a
 * thrown `ComponentError` whose `payload` is the variant. Every error class
 * here carries such a `payload`, so throwing one from a tool or provider
 * returns that variant to the host, and every host call made through this SDK
 * throws one of these classes instead of a bare `ComponentError`.
 *
 * @module errors
 */

/**
 * A WIT variant value as ComponentizeJS represents it.
 * @typedef {{tag: string, val?: any}} Variant
 */

/** Base class: an error carrying a WIT variant as `payload`. */
export class HanzoError extends Error {
  /**
   * @param {string} tag the variant case, kebab-case as in the WIT (`failed`, `rate-limited`)
   * @param {any} [val] the case's payload (a message for most cases)
   * @param {string} [message] the JS message; defaults to `tag: val`
   */
  constructor(tag, val, message) {
    super(message ?? describe(tag, val));
    this.name = new.target.name;
    /** The variant case. */
    this.tag = tag;
    /** The case's payload. */
    this.val = val;
    // Own and non-enumerable, as ComponentizeJS' ComponentError has it.
    Object.defineProperty(this, 'payload', {
      value: val === undefined ? { tag } : { tag, val },
      enumerable: false,
    });
  }
}

/** @param {string} tag @param {any} val */
function describe(tag, val) {
  if (val === undefined) return tag;
  if (typeof val === 'string') return val;
  if (val && typeof val === 'object' && typeof val.message === 'string') return `${tag}: ${val.message}`;
  return `${tag}: ${String(val)}`;
}

/**
 * `hanzo:node/tool-types.tool-error`: what a tool returns when it fails, and
 * what the host's `tools` interface throws.
 */
export class ToolError extends HanzoError {
  /** No tool of that name. @param {string} name */
  static notFound(name) { return new ToolError('not-found', `no tool named \`${name}\``); }
  /** The arguments do not fit the tool's schema. @param {string} message */
  static invalidArguments(message) { return new ToolError('invalid-arguments', message); }
  /** The tool ran and failed. @param {string} message */
  static failed(message) { return new ToolError('failed', message); }
  /** The tool's plugin trapped, timed out or hit a limit (host side). @param {string} message */
  static pluginFailed(message) { return new ToolError('plugin-failed', message); }
  /** The caller was not granted `permissions.tools`. @param {string} message */
  static denied(message) { return new ToolError('denied', message); }
}

/**
 * `hanzo:node/llm-types.provider-error`. The router retries, fails over and
 * opens circuits by the case, so map upstream failures carefully
 * ({@link ProviderError.fromStatus} does it for HTTP statuses).
 */
export class ProviderError extends HanzoError {
  /**
   * @param {string} message
   * @param {number | bigint} [retryAfterMs] how long the upstream asked to wait
   */
  static rateLimited(message, retryAfterMs) {
    return new ProviderError('rate-limited', {
      retryAfterMs: retryAfterMs === undefined ? undefined : BigInt(retryAfterMs),
      message,
    });
  }
  /** @param {string} message */ static contextTooLong(message) { return new ProviderError('context-too-long', message); }
  /** @param {string} message */ static auth(message) { return new ProviderError('auth', message); }
  /** @param {string} message */ static badRequest(message) { return new ProviderError('bad-request', message); }
  /** @param {string} message */ static notFound(message) { return new ProviderError('not-found', message); }
  /** @param {string} message */ static upstreamUnavailable(message) { return new ProviderError('upstream-unavailable', message); }
  /** @param {string} message */ static timeout(message) { return new ProviderError('timeout', message); }
  /** @param {string} message */ static internal(message) { return new ProviderError('internal', message); }
  /**
   * The upstream cannot take part of the request (an image for a text model,
   * a document type it does not read) or has no such operation; the router
   * tries the alias's next deployment.
   * @param {string} message
   */
  static unsupported(message) { return new ProviderError('unsupported', message); }

  /**
   * A failed request to the upstream (a {@link FetchError}) as the router's
   * kinds: a timeout is `timeout`, a refused destination or malformed
   * request `internal` (the plugin's fault), anything else
   * `upstream-unavailable`.
   * @param {FetchError} e
   */
  static fromFetchError(e) {
    if (e.tag === 'timeout') return ProviderError.timeout(e.message);
    if (e.tag === 'denied' || e.tag === 'invalid-request') return ProviderError.internal(e.message);
    return ProviderError.upstreamUnavailable(e.message);
  }

  /**
   * The usual mapping of an upstream's HTTP status onto the cases.
   * @param {number} status
   * @param {string} body the upstream's answer (its message is kept)
   * @param {number} [retryAfterMs] from a `retry-after` header
   */
  static fromStatus(status, body, retryAfterMs) {
    const message = `upstream answered ${status}: ${body.slice(0, 2000)}`;
    if (status === 429) return ProviderError.rateLimited(message, retryAfterMs);
    if (status === 401 || status === 403) return ProviderError.auth(message);
    if (status === 404) return ProviderError.notFound(message);
    if (status === 408 || status === 504) return ProviderError.timeout(message);
    if (status === 413 || /context.length|maximum context|too many tokens/i.test(body)) {
      return ProviderError.contextTooLong(message);
    }
    if (status >= 500) return ProviderError.upstreamUnavailable(message);
    return ProviderError.badRequest(message);
  }
}

/** `hanzo:node/config.config-error` (`not-declared`, `not-set`). */
export class ConfigError extends HanzoError {}
/** `hanzo:node/kv.kv-error` (`denied`, `too-large`, `quota-exceeded`, `store`). */
export class KvError extends HanzoError {}
/**
 * `hanzo:node/fetch.fetch-error` (`invalid-request`, `denied`, `dns`,
 * `connection-refused`, `connection`, `timeout`, `tls`, `protocol`,
 * `body-too-large`).
 */
export class FetchError extends HanzoError {}
/**
 * `hanzo:node/llm.llm-error` (`denied`, `unknown-model`, `unsupported`,
 * `rate-limited`, `over-budget`, `provider`).
 */
export class LlmError extends HanzoError {}
/** `hanzo:node/jobs.jobs-error` (`denied`, `not-found`, `invalid`, `conflict`, `store`). */
export class JobsError extends HanzoError {}
/** `hanzo:node/agents.agents-error` (`denied`, `not-found`, `invalid`, `conflict`, `store`). */
export class AgentsError extends HanzoError {}
/**
 * `hanzo:node/containers.container-error` (`denied`, `unavailable`,
 * `image-not-found`, `invalid`, `failed`).
 */
export class ContainersError extends HanzoError {}
/**
 * `hanzo:node/vectors.vectors-error` (`denied`, `invalid`, `not-found`,
 * `exists`, `quota-exceeded`, `store`).
 */
export class VectorsError extends HanzoError {}
/**
 * `hanzo:node/tee.tee-error` (`denied`, `absent`: no TEE on this node, the
 * message says what was looked for; `invalid`: the nonce; `failed`).
 */
export class TeeError extends HanzoError {}
/** `hanzo:node/gpu.gpu-error` (`denied`). */
export class GpuError extends HanzoError {}

/**
 * Runs a host call, turning its `ComponentError` into `ErrorClass`.
 * @template T
 * @param {new (tag: string, val?: any) => HanzoError} ErrorClass
 * @param {() => T} call
 * @returns {T}
 */
export function hostCall(ErrorClass, call) {
  try {
    return call();
  } catch (e) {
    const payload = /** @type {any} */ (e)?.payload;
    if (payload && typeof payload === 'object' && typeof payload.tag === 'string') {
      throw new ErrorClass(payload.tag, payload.val);
    }
    throw e;
  }
}

/**
 * A thrown value as text for an error message: `Name: message` plus the JS
 * stack when there is one.
 * @param {unknown} e
 */
export function formatThrown(e) {
  if (e instanceof Error) {
    const head = `${e.name}: ${e.message}`;
    const stack = typeof e.stack === 'string' ? e.stack.trim() : '';
    return stack ? `${head}\n${stack}` : head;
  }
  try {
    return `thrown: ${typeof e === 'string' ? e : JSON.stringify(e)}`;
  } catch {
    return `thrown: ${String(e)}`;
  }
}

/**
 * The plugin's name, from its `plugin.toml`, as the SDK's build script
 * records it (`globalThis.__HANZO_PLUGIN__`); `undefined` when built otherwise.
 * @returns {string | undefined}
 */
export function pluginName() {
  return /** @type {any} */ (globalThis).__HANZO_PLUGIN__;
}
