// Builds a JavaScript plugin into a component with @bytecodealliance/componentize-js
// (resolved through NODE_PATH; scripts/build-plugins.sh installs it into the cache).
//   node componentize-js.mjs PLUGIN.js WIT_DIR OUT.wasm
import { readFile, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

const [sourcePath, witPath, out] = process.argv.slice(2);
if (!out) {
  console.error('usage: componentize-js.mjs PLUGIN.js WIT_DIR OUT.wasm');
  process.exit(2);
}
// The package is ESM-only and NODE_PATH does not apply to import(): find its entry point.
const pkg = join(process.env.NODE_PATH ?? 'node_modules', '@bytecodealliance/componentize-js');
const { exports } = JSON.parse(await readFile(join(pkg, 'package.json'), 'utf8'));
const { componentize } = await import(pathToFileURL(join(pkg, exports.import)).href);
const { component } = await componentize({
  sourcePath: resolve(sourcePath),
  witPath: resolve(witPath),
  worldName: 'plugin',
  // The broker offers WASI without http; a component that imports wasi:http cannot be linked.
  disableFeatures: ['http', 'fetch-event'],
});
await writeFile(out, component);
