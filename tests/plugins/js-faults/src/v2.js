// The second build of js-faults: the same tools, `answer` says v2.
import { defineTools } from '../../../../sdk/js/src/tool.js';
import { faultTools } from './index.js';

export const toolbox = defineTools(faultTools('v2'));
