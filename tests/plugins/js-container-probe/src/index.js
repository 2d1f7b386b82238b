// Tools that run containers through the JavaScript SDK's `containers`: a run
// to its end, a process kept between calls, an image the operator did not
// grant. For tests/e2e/js_plugins.rs.
import { defineTools, tool, config, containers, ContainersError } from '../../../../sdk/js/src/tool.js';

const decoder = new TextDecoder();
const text = (/** @type {Uint8Array} */ b) => decoder.decode(b);

export const toolbox = defineTools(
  tool({
    name: 'run_script',
    description: 'Runs `sh -c script` in the configured image with `stdin` as its input',
    parameters: {
      type: 'object',
      properties: { script: { type: 'string' }, stdin: { type: 'string' }, timeout_ms: { type: 'integer' } },
      required: ['script'],
    },
    handler: ({ script, stdin, timeout_ms }) => {
      const r = containers.run(config.get('image'), ['sh', '-c', script], { stdin: stdin ?? '', timeoutMs: timeout_ms });
      return { exit_code: r.exitCode ?? null, stdout: text(r.stdout), stderr: text(r.stderr), timed_out: r.timedOut };
    },
  }),
  tool({
    name: 'echo_session',
    description: 'Sends `line` to a `cat` kept running between calls and reads it back',
    parameters: { type: 'object', properties: { line: { type: 'string' } }, required: ['line'] },
    handler: ({ line }) => {
      const p = containers.openProcess('echo', containers.spec(config.get('image'), ['cat']), 60000);
      try {
        const fresh = p.fresh;
        p.write(`${line}\n`);
        let got = '';
        while (!got.endsWith('\n')) {
          const chunk = p.read(4096, 5000);
          if (!chunk || chunk.length === 0) break;
          got += text(chunk);
        }
        return { fresh, echo: got.replace(/\n$/, '') };
      } finally {
        p.close();
      }
    },
  }),
  tool({
    name: 'other_image',
    description: 'Runs an image the operator did not grant: the error kind and message',
    parameters: { type: 'object', properties: {} },
    handler: () => {
      try {
        containers.run('not-granted:1', ['true']);
      } catch (e) {
        if (e instanceof ContainersError) return { kind: e.tag, message: e.message };
        throw e;
      }
      return { kind: null };
    },
  }),
);
