// Text tools for agents, in JavaScript (the hanzo:node `tool` world).
import { defineTools, tool, ToolError, log } from '../../../sdk/js/src/tool.js';

const textStats = tool({
  name: 'text_stats',
  description: 'Counts characters, words, lines and sentences of a text, and its most frequent words',
  parameters: {
    type: 'object',
    properties: {
      text: { type: 'string' },
      top: { type: 'integer', minimum: 0, maximum: 50, description: 'how many frequent words (default 5)' },
    },
    required: ['text'],
  },
  result: { type: 'object' },
  handler({ text, top = 5 }) {
    const words = text.toLowerCase().match(/[a-z0-9\u00c0-\uffff']+/g) ?? [];
    const counts = new Map();
    for (const w of words) counts.set(w, (counts.get(w) ?? 0) + 1);
    const frequent = [...counts.entries()]
      .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))
      .slice(0, top)
      .map(([word, count]) => ({ word, count }));
    return {
      characters: [...text].length,
      words: words.length,
      lines: text === '' ? 0 : text.split(/\r\n|\r|\n/).length,
      sentences: (text.match(/[^.!?]+[.!?]+/g) ?? []).length,
      frequent,
    };
  },
});

const regexExtract = tool({
  name: 'regex_extract',
  description: 'All matches of a JavaScript regular expression in a text, with their capture groups',
  parameters: {
    type: 'object',
    properties: {
      pattern: { type: 'string' },
      text: { type: 'string' },
      flags: { type: 'string', pattern: '^[imsu]*$', description: 'i, m, s, u (g is implied)' },
      limit: { type: 'integer', minimum: 1, maximum: 1000 },
    },
    required: ['pattern', 'text'],
  },
  handler({ pattern, text, flags = '', limit = 100 }) {
    let re;
    try {
      re = new RegExp(pattern, `${flags}g`);
    } catch (e) {
      // A bad pattern is the caller's mistake, said as such.
      throw ToolError.invalidArguments(`pattern: ${e.message}`);
    }
    const matches = [];
    for (const m of text.matchAll(re)) {
      matches.push({ match: m[0], index: m.index, groups: m.slice(1), named: m.groups ?? null });
      if (matches.length >= limit) break;
    }
    return { count: matches.length, matches };
  },
});

const FOLD = Object.fromEntries(
  [
    ['àáâãäåā', 'a'], ['æ', 'ae'], ['çćč', 'c'], ['ďđ', 'd'], ['èéêëēěę', 'e'], ['ìíîïī', 'i'],
    ['ñńň', 'n'], ['òóôõöøō', 'o'], ['œ', 'oe'], ['řŕ', 'r'], ['śšş', 's'], ['ß', 'ss'],
    ['ťţ', 't'], ['ùúûüūů', 'u'], ['ýÿ', 'y'], ['źżž', 'z'], ['ł', 'l'],
  ].flatMap(([from, to]) => [...from].map((c) => [c, to])),
);

const slugify = tool({
  name: 'slugify',
  description: 'A URL slug of a title: lower-case ASCII words joined by dashes',
  parameters: {
    type: 'object',
    properties: { text: { type: 'string' }, max_length: { type: 'integer', minimum: 1 } },
    required: ['text'],
  },
  handler({ text, max_length = 80 }) {
    // The engine has no ICU (no String.prototype.normalize): fold the
    // common Latin letters by table.
    const slug = [...text.toLowerCase()]
      .map((c) => FOLD[c] ?? c)
      .join('')
      .replace(/[^a-z0-9]+/g, '-')
      .replace(/^-+|-+$/g, '')
      .slice(0, max_length)
      .replace(/-+$/, '');
    return { slug };
  },
});

const sha256 = tool({
  name: 'sha256',
  description: 'The SHA-256 digest of a UTF-8 text, in hex',
  parameters: { type: 'object', properties: { text: { type: 'string' } }, required: ['text'] },
  async handler({ text }) {
    const digest = await crypto.subtle.digest('SHA-256', new TextEncoder().encode(text));
    const hex = [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, '0')).join('');
    log.debug(`sha256 of ${text.length} characters`);
    return { sha256: hex };
  },
});

export const toolbox = defineTools(textStats, regexExtract, slugify, sha256);
