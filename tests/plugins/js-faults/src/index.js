// Misbehaving on purpose: `throw` throws a TypeError from JavaScript code,
// `spin` never returns, `bomb` allocates until the memory limit stops it.
// `answer` says which build this is: this entry is v1, `v2.js` is v2 (the
// hot-swap test swaps one for the other).
import { defineTools, tool } from '../../../../sdk/js/src/tool.js';

const none = { type: 'object', properties: {} };

/** A helper two frames deep, so the stack has something to show. */
function parseDepth(config) {
  return config.nested.depth; // config.nested is undefined
}

/** The tools, `answer` answering `version`. @param {string} version */
export const faultTools = (version) => [
  tool({ name: 'answer', description: 'Which build this is', parameters: none, handler: () => ({ answer: version }) }),
  tool({ name: 'throw', description: 'Throws a TypeError', parameters: none, handler: () => parseDepth({}) }),
  tool({
    name: 'spin',
    description: 'Never returns',
    parameters: none,
    handler() {
      let n = 0;
      for (;;) n++;
    },
  }),
  tool({
    name: 'bomb',
    description: 'Allocates until it runs out of memory',
    parameters: none,
    handler() {
      const hoard = [];
      for (;;) hoard.push(new Float64Array(1 << 20).fill(1));
    },
  }),
];

export const toolbox = defineTools(faultTools('v1'));
