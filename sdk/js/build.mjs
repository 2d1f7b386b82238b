#!/usr/bin/env node
// Builds a JavaScript plugin project into a folder that drops straight into
// a node's plugin directory: <out>/plugin.toml and <out>/<component>.wasm.
//
//   node build.mjs [PROJECT] [--out DIR] [--wit DIR] [--entry FILE]
//
// PROJECT (default: the current directory) holds plugin.toml and
// src/index.js (or FILE, relative to PROJECT); the manifest's `kind` is the world built (tool, provider,
// api), its `name` is recorded for error messages. The WIT folder is
// PROJECT/wit when present, else this repository's wit/since_v0.3.4/. OUT defaults to
// PROJECT/dist/<name>.
import { componentize } from '@bytecodealliance/componentize-js';
import { mkdir, readFile, writeFile, rm } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));

/** The WIT package version the SDK speaks. */
const WIT_VERSION = '0.3.4';

/** What `src/index.js` must export, by world. */
const WORLD_EXPORT = { tool: 'toolbox', provider: 'modelProvider', api: 'incomingHandler' };

function usage(msg) {
  console.error(`${msg}\nusage: node build.mjs [PROJECT] [--out DIR] [--wit DIR] [--entry FILE]`);
  process.exit(2);
}

const args = process.argv.slice(2);
let project = '.';
let out;
let wit;
let entryArg = 'src/index.js';
for (let i = 0; i < args.length; i++) {
  if (args[i] === '--out') out = args[++i] ?? usage('--out needs a folder');
  else if (args[i] === '--wit') wit = args[++i] ?? usage('--wit needs a folder');
  else if (args[i] === '--entry') entryArg = args[++i] ?? usage('--entry needs a file');
  else if (args[i].startsWith('-')) usage(`unknown option ${args[i]}`);
  else project = args[i];
}
project = resolve(project);

/** The top-level `key = "value"` strings of a manifest (before any table). */
function manifestStrings(text) {
  const values = {};
  for (const line of text.split(/\r?\n/)) {
    if (/^\s*\[/.test(line)) break;
    const m = /^\s*([A-Za-z0-9_-]+)\s*=\s*"((?:[^"\\]|\\.)*)"/.exec(line);
    if (m) values[m[1]] = JSON.parse(`"${m[2]}"`);
  }
  return values;
}

const manifestPath = join(project, 'plugin.toml');
if (!existsSync(manifestPath)) usage(`${manifestPath} is missing`);
const manifestText = await readFile(manifestPath, 'utf8');
const manifest = manifestStrings(manifestText);
const { name, kind } = manifest;
if (!name) usage(`${manifestPath} has no name`);
if (!['tool', 'provider', 'api'].includes(kind)) usage(`${manifestPath}: kind must be tool, provider or api`);
const component = manifest.component ?? `${name.replaceAll('-', '_')}.wasm`;
const entry = resolve(project, entryArg);
if (!existsSync(entry)) usage(`${entry} is missing`);
wit = resolve(wit ?? (existsSync(join(project, 'wit')) ? join(project, 'wit') : join(here, '..', '..', 'wit', `since_v${WIT_VERSION}`)));
out = resolve(out ?? join(project, 'dist', name));

const started = Date.now();
try {
  // The entry records the plugin's name (for error messages), then exports
  // what the world exports from the project's module (naming it lets
  // ComponentizeJS see an `incomingHandler` and leave its fetch-event out). ComponentizeJS reads sources under the working
  // directory, so it runs from the folder holding both project and SDK.
  // (Not `/`: ComponentizeJS then cuts the paths wrong.)
  const common = commonDir(project, here);
  const root = common === sep ? project : common;
  const entryDir = join(project, '.hanzo-build');
  await mkdir(entryDir, { recursive: true });
  const entryFile = join(entryDir, 'entry.js');
  const rel = relative(entryDir, entry).split(sep).join('/');
  await writeFile(
    entryFile,
    `globalThis.__HANZO_PLUGIN__ = ${JSON.stringify(name)};\n` +
      `export { ${WORLD_EXPORT[kind]} } from ${JSON.stringify(rel.startsWith('.') ? rel : `./${rel}`)};\n`,
  );
  process.chdir(root);
  const { component: bytes } = await componentize({
    sourcePath: entryFile,
    witPath: wit,
    worldName: `hanzo:node/${kind}@${WIT_VERSION}`,
  });
  await mkdir(out, { recursive: true });
  await writeFile(join(out, component), bytes);
  const text = manifest.component ? manifestText : manifestText.replace(/^(kind\s*=.*)$/m, `$1\ncomponent = "${component}"`);
  await writeFile(join(out, 'plugin.toml'), text);
  const size = (bytes.length / (1 << 20)).toFixed(1);
  console.log(`built ${kind} plugin ${name}: ${join(out, component)} (${size} MiB) in ${((Date.now() - started) / 1000).toFixed(1)} s`);
} finally {
  await rm(join(project, '.hanzo-build'), { recursive: true, force: true });
}

function commonDir(a, b) {
  const x = a.split(sep);
  const y = b.split(sep);
  let i = 0;
  while (i < x.length && i < y.length && x[i] === y[i]) i++;
  return x.slice(0, i).join(sep) || sep;
}
