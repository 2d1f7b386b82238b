// @ts-check
/**
 * `hanzo:node/vectors` (tool and api worlds, `permissions.vectors = true`,
 * since hanzo:node 0.3.2): the tenant's vector collections on the node's
 * LanceDB. Create one with a dimension and metric, upsert and delete records
 * by id, search by vector, text (BM25) or both. Every call throws
 * {@link VectorsError} on failure (`denied` naming the grant, `invalid`,
 * `not-found`, `exists`, `quota-exceeded`, `store`).
 *
 * ```js
 * vectors.create('docs', 'notes', vectors.spec(3, { fields: { lang: 'string' } }));
 * vectors.upsert('docs', 'notes', [vectors.record('a', [1, 0, 0], { text: 'a note', metadata: { lang: 'en' } })]);
 * for (const hit of vectors.search('docs', 'notes', { vector: [1, 0, 0], k: 5 })) {
 *   console.log(hit.id, hit.distance, vectors.metadata(hit));
 * }
 * ```
 *
 * The tenant is the call's: a plugin reaches only the collections of the
 * tenant it runs for, in any namespace it names. A collection's `rows` is a
 * `bigint` (WIT `u64`).
 * @module vectors
 */
import * as host from 'hanzo:node/vectors@0.3.4';
import { VectorsError, hostCall } from './errors.js';

/** @typedef {'cosine' | 'l2' | 'dot'} Metric */
/** @typedef {'string' | 'int' | 'float' | 'bool'} FieldType */

/** @param {ArrayLike<number>} v */
const f32 = (v) => (v instanceof Float32Array ? v : Float32Array.from(v));

export const vectors = {
  /**
   * A collection spec: `dimension`-long vectors compared by `metric`;
   * `fields` names the metadata keys filters may use, with their types;
   * `model` the embedding alias its vectors come from.
   * @param {number} dimension
   * @param {{metric?: Metric, fields?: Record<string, FieldType>, model?: string}} [opts]
   */
  spec(dimension, opts = {}) {
    return {
      dimension,
      metric: opts.metric ?? 'cosine',
      fields: Object.entries(opts.fields ?? {}),
      model: opts.model,
    };
  },
  /**
   * A record; `metadata` is a JSON object.
   * @param {string} id
   * @param {ArrayLike<number>} vector
   * @param {{text?: string, metadata?: object}} [opts]
   */
  record(id, vector, opts = {}) {
    return { id, vector: f32(vector), text: opts.text, metadata: JSON.stringify(opts.metadata ?? {}) };
  },
  /** A hit's (or record's) metadata as an object. @param {{metadata: string}} hit */
  metadata(hit) {
    return JSON.parse(hit.metadata || '{}');
  },
  /** @param {string} namespace @param {string} name @param {ReturnType<typeof vectors.spec>} spec */
  create(namespace, name, spec) {
    return hostCall(VectorsError, () => host.create(namespace, name, spec));
  },
  /** The namespace's collections, sorted by name. @param {string} [namespace] */
  list(namespace = '') {
    return hostCall(VectorsError, () => host.list(namespace));
  },
  /** @param {string} namespace @param {string} name */
  info(namespace, name) {
    return hostCall(VectorsError, () => host.info(namespace, name));
  },
  /** Drops the collection and its rows; true when it existed. @param {string} namespace @param {string} name */
  drop(namespace, name) {
    return hostCall(VectorsError, () => host.drop(namespace, name));
  },
  /**
   * Inserts the records, replacing those whose id exists (at most 10000 at
   * once); the number written.
   * @param {string} namespace @param {string} name @param {ReturnType<typeof vectors.record>[]} records
   */
  upsert(namespace, name, records) {
    return hostCall(VectorsError, () => host.upsert(namespace, name, records));
  },
  /** Deletes by id; the number deleted. @param {string} namespace @param {string} name @param {string[]} ids */
  delete(namespace, name, ids) {
    return hostCall(VectorsError, () => host.delete(namespace, name, ids));
  },
  /**
   * The `k` nearest to `vector`, the best matches of `text`, or both fused
   * (hybrid); `filter` is an SQL condition over the typed fields and `id`.
   * @param {string} namespace @param {string} name
   * @param {{vector?: ArrayLike<number>, text?: string, filter?: string, k?: number}} query
   */
  search(namespace, name, query) {
    const q = {
      vector: query.vector === undefined ? undefined : f32(query.vector),
      text: query.text,
      filter: query.filter,
      k: query.k ?? 10,
    };
    return hostCall(VectorsError, () => host.search(namespace, name, q));
  },
};
