/**
 * `npm run bench:jpeg-walk` — the JPEG decoder at 1/8 scale with its WebAssembly scan walk and with
 * the JavaScript reader alone, interleaved, over bench:batch's generated 12 MP JPEGs (made if
 * missing). Prints the median of each per round; the VM's speed drifts, so compare within a round.
 *
 * Usage: node dist/scripts/bench-jpeg-walk.js [--files 6] [--rounds 3] [--reps 12]
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';

import { decodeJpeg } from '../core/jpeg-decoder/index.js';
import { walkStats } from '../core/jpeg-walk/index.js';
import { imageSet, jpegFiles } from './bench-data.js';
import { abRound } from './median.js';

const { values: args } = parseArgs({
  options: {
    files: { type: 'string', default: '6' },
    rounds: { type: 'string', default: '3' },
    reps: { type: 'string', default: '12' },
  },
});
const n = Number(args.files);
const dir = await imageSet('12mp', 4000, 3000, n);
const files = await Promise.all((await jpegFiles(dir)).map((f) => readFile(path.join(dir, f))));

console.log(`bench:jpeg-walk — ${files.length} generated 12 MP JPEGs (4000×3000, q90, 4:2:0) decoded at 1/8, node ${process.version}`);
for (const wasm of [true, false]) for (const f of files) decodeJpeg(f, 8, { wasm }); // warm-up: both paths compiled
for (let round = 1; round <= Number(args.rounds); round++) {
  const { a: w, b: j, calls } = abRound(Number(args.reps), (wasm, i) => decodeJpeg(files[i % files.length]!, 8, { wasm }), 3);
  console.log(`round ${round}: median ${w.toFixed(2)} ms with the WebAssembly walk, ${j.toFixed(2)} ms JavaScript alone → ${(w / j).toFixed(2)}× (${calls} decodes each)`);
}
console.log(`scans walked in WebAssembly ${walkStats.walked}, left to JavaScript ${walkStats.declined}`);
