/**
 * `npm run bench:resample` — `preprocess` (resize short side 256, centre crop 224, normalise) with
 * its WebAssembly resampler and with the JavaScript passes alone, interleaved, on RGB images of the
 * sizes the batch worker meets: a 12 MP photo decoded at 1/8 (500×375), a 0.3 MP photo (640×480)
 * and a 3 MP photo at 1/2 (1000×750). Prints the median per tensor of each; the VM's speed drifts,
 * so compare within a row.
 *
 * Usage: node dist/scripts/bench-resample.js [--rounds 3] [--reps 100]
 */
import { parseArgs } from 'node:util';

import { preprocess } from '../core/preprocess.js';
import { resampleStats } from '../core/resample-wasm/index.js';
import { abRound } from './median.js';

const { values: args } = parseArgs({
  options: {
    rounds: { type: 'string', default: '3' },
    reps: { type: 'string', default: '100' },
  },
});

console.log(`bench:resample — preprocess to a 224×224 tensor, WebAssembly vs JavaScript passes, node ${process.version}`);
const into = new Float32Array(3 * 224 * 224);
for (const [width, height] of [
  [500, 375],
  [640, 480],
  [1000, 750],
] as const) {
  // Pseudo-random levels (the passes cost the same for any content).
  const data = new Uint8Array(width * height * 3);
  for (let i = 0; i < data.length; i++) data[i] = (Math.imul(i, 2654435761) >>> 24) & 255;
  const img = { width, height, data };
  for (let i = 0; i < 50; i++) for (const wasm of [true, false]) preprocess(img, undefined, into, { wasm }); // warm-up
  for (let round = 1; round <= Number(args.rounds); round++) {
    const { a: w, b: j, calls } = abRound(Number(args.reps), (wasm) => preprocess(img, undefined, into, { wasm }));
    console.log(`${width}×${height} round ${round}: median ${w.toFixed(2)} ms WebAssembly, ${j.toFixed(2)} ms JavaScript → ${(w / j).toFixed(2)}× (${calls} each)`);
  }
}
console.log(`windows resampled in WebAssembly ${resampleStats.resampled}, left to JavaScript ${resampleStats.declined}`);
