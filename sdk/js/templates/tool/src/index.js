// {{name}}: a Hanzo Node tool plugin in JavaScript.
//
// Build: npm ci && npm run build   ->  dist/{{name}}/ (drop it into the node's plugin directory)
import { defineTools, tool, ToolError, log } from '../sdk/tool.js';

const greet = tool({
  name: '{{name_snake}}_greet',
  description: 'Greets someone by name',
  parameters: {
    type: 'object',
    properties: { name: { type: 'string', description: 'who to greet' } },
    required: ['name'],
  },
  result: { type: 'object', properties: { greeting: { type: 'string' } } },
  handler({ name }) {
    if (!name.trim()) throw ToolError.invalidArguments('`name` is blank');
    log.info(`greeting ${name}`);
    return { greeting: `Hello, ${name}!` };
  },
});

export const toolbox = defineTools(greet);
