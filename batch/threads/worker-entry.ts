/**
 * How to start one of the batch worker's threads (decode pool, inference thread) from either the
 * compiled JavaScript in `dist/` or the TypeScript sources (jest, `npx tsx`).
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';

/**
 * The compiled file when it exists beside the caller, else an eval'd bootstrap that registers
 * tsx's ESM hooks in the worker and imports the `.ts` source.
 * @param js - the worker's compiled entry, `new URL('./x-worker.js', import.meta.url)`
 */
export function workerEntry(js: URL): { script: URL | string; eval: boolean } {
  if (/\.m?js$/.test(import.meta.url) && existsSync(fileURLToPath(js))) return { script: js, eval: false };
  // `--import tsx` in a worker's execArgv is not honoured by Node 20, so a small bootstrap registers
  // tsx's ESM hooks in the worker and then imports the .ts entry.
  const tsxApi = pathToFileURL(createRequire(import.meta.url).resolve('tsx/package.json').replace(/package\.json$/, 'dist/esm/api/index.mjs')).href;
  const entry = js.href.replace(/\.js$/, '.ts');
  return { script: `import(${JSON.stringify(tsxApi)}).then((m) => { m.register(); return import(${JSON.stringify(entry)}); });`, eval: true };
}
