/**
 * Fuzzes the product's decode entry (core/decode.ts) with seeded mutants of a corpus built at run
 * time (see scripts/fuzz/corpus.ts), one input at a time in a child process so a hang can be
 * killed and its memory read.
 *
 *   npm run fuzz -- --format jpeg --seconds 600
 *   npm run fuzz -- --format jpeg,png,gif,bmp,tiff --inputs 10000 --seed 1
 *
 * Failures: an untyped error (see scripts/fuzz/outcome.ts), a decode over --timeout-ms, the
 * process's RSS over --max-rss-mb, and (JPEG) pixels that differ from libjpeg-turbo's `djpeg`
 * beyond rounding on a mutant djpeg decodes without a warning. Each failure is written to
 * --out as a JSON recipe (replayed by test/unit/fuzz-corpus.test.ts); the exit code is 1 when
 * there was any. The summary is printed as a table and, with --json, written as JSON.
 */
import { type ChildProcess, fork } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';

import type { ImageFormat } from '../core/types.js';
import { buildCorpus, FUZZ_FORMATS } from './fuzz/corpus.js';
import { comparable, djpegAvailable, djpegDecode, pixelDiff } from './fuzz/differential.js';
import { planInput, type FuzzInput } from './fuzz/input.js';
import type { Outcome } from './fuzz/outcome.js';
import type { WorkRequest, WorkResult } from './fuzz/worker.js';

interface Args {
  formats: ImageFormat[];
  inputs?: number;
  seconds?: number;
  seed: number;
  timeoutMs: number;
  maxRssMb: number;
  maxPixels: number;
  out: string;
  differential: boolean;
  json?: string;
}

function parseArgs(argv: string[]): Args {
  const a: Args = { formats: [...FUZZ_FORMATS], seed: 1, timeoutMs: 10_000, maxRssMb: 1024, maxPixels: 16e6, out: 'test/fixtures/fuzz', differential: true };
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i]!;
    const v = (): string => {
      const x = argv[++i];
      if (x === undefined) throw new Error(`${k} needs a value`);
      return x;
    };
    const num = (): number => {
      const s = v();
      const n = Number(s);
      if (!Number.isFinite(n) || n < 0) throw new Error(`${k} must be a non-negative number, got "${s}"`);
      return n;
    };
    if (k === '--format' || k === '--formats') {
      const fs = v().split(',').map((s) => s.trim().toLowerCase());
      a.formats = fs.includes('all') ? [...FUZZ_FORMATS] : fs.map((f) => {
        const g = f === 'jpg' ? 'jpeg' : f === 'tif' ? 'tiff' : f;
        if (!FUZZ_FORMATS.includes(g as ImageFormat)) throw new Error(`unknown format ${f}; use ${FUZZ_FORMATS.join(', ')}`);
        return g as ImageFormat;
      });
    } else if (k === '--inputs') a.inputs = num();
    else if (k === '--seconds') a.seconds = num();
    else if (k === '--seed') a.seed = num();
    else if (k === '--timeout-ms') a.timeoutMs = num();
    else if (k === '--max-rss-mb') a.maxRssMb = num();
    else if (k === '--max-pixels') a.maxPixels = num();
    else if (k === '--out') a.out = v();
    else if (k === '--json') a.json = v();
    else if (k === '--no-differential') a.differential = false;
    else if (k === '--help' || k === '-h') {
      console.log('npm run fuzz -- [--format jpeg,png,gif,bmp,tiff|all] [--inputs N per format] [--seconds S per format] [--seed S] [--timeout-ms 10000] [--max-rss-mb 1024] [--max-pixels 16e6] [--out test/fixtures/fuzz] [--json summary.json] [--no-differential]');
      process.exit(0);
    } else throw new Error(`unknown option ${k}; see --help`);
  }
  if (a.inputs === undefined && a.seconds === undefined) a.inputs = 1000;
  return a;
}

/** The resident set of process `pid` in bytes, from /proc (Linux); undefined elsewhere. */
function rssOf(pid: number | undefined): number | undefined {
  if (pid === undefined) return undefined;
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : undefined;
  } catch {
    return undefined;
  }
}

/** Runs inputs in one child process; replaces it after a timeout, a memory overrun or a crash. */
class DecodeProcess {
  private child!: ChildProcess;
  private nextId = 0;
  /** Largest RSS of a decode process seen, in bytes. */
  peakRss = 0;
  constructor(private readonly maxRss: number) {
    this.spawn();
  }
  private spawn(): void {
    this.child = fork(fileURLToPath(new URL('./fuzz/worker.js', import.meta.url)), [], { serialization: 'advanced', stdio: ['ignore', 'ignore', 'ignore', 'ipc'] });
  }
  async run(req: Omit<WorkRequest, 'id'>, timeoutMs: number): Promise<WorkResult | { id: number; result: Outcome }> {
    const id = this.nextId++;
    const c = this.child;
    return new Promise((resolve) => {
      let done = false;
      const finish = (r: WorkResult | { id: number; result: Outcome }, restart: boolean): void => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        clearInterval(watch);
        c.off('message', onMessage);
        c.off('exit', onExit);
        if (restart) {
          c.kill('SIGKILL');
          this.spawn();
        }
        resolve(r);
      };
      const onMessage = (m: WorkResult): void => {
        if (m.id !== id) return;
        this.peakRss = Math.max(this.peakRss, m.rss);
        // Memory the process kept after the decode counts against the bound as well.
        if (m.rss > this.maxRss) finish({ id, result: { outcome: 'MEMORY', failure: true, detail: `RSS ${(m.rss / 2 ** 20).toFixed(0)} MiB after the decode, over the ${(this.maxRss / 2 ** 20).toFixed(0)} MiB bound` } }, true);
        else finish(m, false);
      };
      const onExit = (code: number | null, signal: string | null): void =>
        finish({ id, result: { outcome: 'CRASH', failure: true, detail: `decode process exited (${code ?? signal})` } }, true);
      const timer = setTimeout(() => finish({ id, result: { outcome: 'TIMEOUT', failure: true, detail: `no answer within ${timeoutMs} ms` } }, true), timeoutMs);
      const watch = setInterval(() => {
        const rss = rssOf(c.pid);
        if (rss === undefined) return;
        this.peakRss = Math.max(this.peakRss, rss);
        if (rss > this.maxRss) finish({ id, result: { outcome: 'MEMORY', failure: true, detail: `RSS ${(rss / 2 ** 20).toFixed(0)} MiB during the decode, over the ${(this.maxRss / 2 ** 20).toFixed(0)} MiB bound` } }, true);
      }, 20);
      c.on('message', onMessage);
      c.once('exit', onExit);
      c.send({ id, ...req } satisfies WorkRequest);
    });
  }
  close(): void {
    this.child.kill('SIGKILL');
  }
}

interface DiffStats {
  /** Pairs judged (full size; 1/8 without subsampling): count, samples, sum and largest absolute difference. */
  compared: number;
  samples: number;
  sumAbs: number;
  max: number;
  /** Pairs at scales where the two decoders use different reduced IDCTs or chroma scaling: reported only. */
  reported: number;
  reportedSamples: number;
  reportedSumAbs: number;
  reportedMax: number;
  beyondRounding: number;
  /** djpeg decoded without warnings, the project's decoder threw. */
  oursStricter: number;
  /** The project's decoder gave pixels, djpeg warned or failed. */
  djpegStricter: number;
  /** The project's decoder declined (arithmetic, 12-bit...) and jimp took over. */
  declined: number;
  /** Why, by message: the project's error where it was stricter, djpeg's first warning where it was. */
  stricterWhy: Record<string, number>;
  djpegWhy: Record<string, number>;
}

/** Largest per-sample difference still counted as rounding (float AAN vs libjpeg's float IDCT, nearest chroma). */
const ROUNDING = 4;

interface FormatSummary {
  format: ImageFormat;
  seeds: number;
  inputs: number;
  seconds: number;
  outcomes: Record<string, number>;
  thirdPartyFaults: number;
  failures: number;
  differential?: DiffStats;
}

function saveReproducer(dir: string, input: FuzzInput, seed: number, index: number, result: Outcome): string {
  mkdirSync(dir, { recursive: true });
  const file = path.join(dir, `${input.format}-seed${seed}-${index}-${result.outcome.toLowerCase()}.json`);
  const { bytes, ops, ...recipe } = input;
  writeFileSync(file, `${JSON.stringify({ ...recipe, ops, size: bytes.length, outcome: result.outcome, detail: result.detail }, null, 2)}\n`);
  return file;
}

async function fuzzFormat(format: ImageFormat, seeds: Parameters<typeof planInput>[0], args: Args, thread: DecodeProcess): Promise<FormatSummary> {
  const outcomes: Record<string, number> = {};
  let thirdPartyFaults = 0;
  let failures = 0;
  const diffOn = args.differential && format === 'jpeg' && djpegAvailable();
  const diff: DiffStats = { compared: 0, samples: 0, sumAbs: 0, max: 0, reported: 0, reportedSamples: 0, reportedSumAbs: 0, reportedMax: 0, beyondRounding: 0, oursStricter: 0, djpegStricter: 0, declined: 0, stricterWhy: {}, djpegWhy: {} };
  const t0 = performance.now();
  let i = 0;
  for (; ; i++) {
    if (args.inputs !== undefined && i >= args.inputs) break;
    if (args.seconds !== undefined && performance.now() - t0 > args.seconds * 1000) break;
    const input = planInput(seeds, format, args.seed, i);
    const copy = diffOn ? input.bytes.slice() : input.bytes;
    const answer = await thread.run({ bytes: input.bytes.slice(), maxPixels: args.maxPixels, ...(input.minShortSide !== undefined ? { minShortSide: input.minShortSide } : {}), ...(diffOn ? { scale: input.scale } : {}) }, args.timeoutMs);
    let result = answer.result;
    if (diffOn && 'pixels' in answer) {
      const ref = djpegDecode(copy, input.scale);
      const ours = answer.pixels;
      if (ours === null && ref.clean) {
        // Declined (a coding mode the decoder leaves to jimp) or threw on data libjpeg-turbo took without a warning.
        if (result.outcome === 'ok') diff.declined++;
        else {
          diff.oursStricter++;
          const why = answer.jpegError ?? 'declined';
          diff.stricterWhy[why] = (diff.stricterWhy[why] ?? 0) + 1;
        }
      } else if (ours && !ref.clean) {
        diff.djpegStricter++;
        const why = ref.warning ?? 'no pixels';
        diff.djpegWhy[why] = (diff.djpegWhy[why] ?? 0) + 1;
      }
      else if (ours && ref.clean && ref.pixels) {
        const d = pixelDiff(ours, ref.pixels);
        if (!d.sizeMismatch && !comparable(copy, input.scale)) {
          diff.reported++;
          diff.reportedSamples += d.samples;
          diff.reportedSumAbs += d.sumAbs;
          diff.reportedMax = Math.max(diff.reportedMax, d.max);
        } else {
          diff.compared++;
          diff.samples += d.samples;
          diff.sumAbs += d.sumAbs;
          diff.max = Math.max(diff.max, d.max);
          if (d.max > ROUNDING || d.sizeMismatch) {
            diff.beyondRounding++;
            result = { outcome: 'DIFFERS_FROM_LIBJPEG', failure: true, detail: d.sizeMismatch ? `size ${ours.width}x${ours.height} vs djpeg ${ref.pixels.width}x${ref.pixels.height}` : `max ${d.max}, mean ${(d.sumAbs / d.samples).toFixed(3)} at 1/${input.scale}` };
          }
        }
      }
    }
    outcomes[result.outcome] = (outcomes[result.outcome] ?? 0) + 1;
    if (result.thirdPartyFault) thirdPartyFaults++;
    if (result.failure) {
      failures++;
      const file = saveReproducer(args.out, input, args.seed, i, result);
      console.error(`${format} #${i}: ${result.outcome} (${input.seedName}, ${input.ops.join('+')}) → ${file}\n  ${(result.detail ?? '').split('\n').join('\n  ')}`);
    }
    if (i > 0 && i % 1000 === 0) console.error(`${format}: ${i} inputs, ${((performance.now() - t0) / 1000).toFixed(0)} s, ${failures} failures`);
  }
  return { format, seeds: seeds.length, inputs: i, seconds: (performance.now() - t0) / 1000, outcomes, thirdPartyFaults, failures, ...(diffOn ? { differential: diff } : {}) };
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const corpus = await buildCorpus({ formats: args.formats });
  for (const s of corpus.skipped) console.log(`corpus: skipped ${s}`);
  if (args.differential && args.formats.includes('jpeg') && !djpegAvailable()) console.log('differential: skipped (djpeg not found; apt-get install libjpeg-turbo-progs)');
  const thread = new DecodeProcess(args.maxRssMb * 2 ** 20);
  const summaries: FormatSummary[] = [];
  for (const format of args.formats) {
    const seeds = corpus.seeds[format];
    if (seeds.length === 0) {
      console.log(`${format}: no seeds, skipped`);
      continue;
    }
    summaries.push(await fuzzFormat(format, seeds, args, thread));
  }
  thread.close();
  const codes = [...new Set(summaries.flatMap((s) => Object.keys(s.outcomes)))].sort();
  console.log(`\nseed ${args.seed}, pixel limit ${args.maxPixels}, timeout ${args.timeoutMs} ms per input, RSS bound ${args.maxRssMb} MiB, peak RSS of the decode process ${(thread.peakRss / 2 ** 20).toFixed(0)} MiB`);
  console.log(['format', 'seeds', 'inputs', 'seconds', ...codes, 'third-party faults', 'failures'].join(' | '));
  for (const s of summaries) console.log([s.format, s.seeds, s.inputs, s.seconds.toFixed(0), ...codes.map((c) => s.outcomes[c] ?? 0), s.thirdPartyFaults, s.failures].join(' | '));
  for (const s of summaries) {
    const d = s.differential;
    if (!d) continue;
    console.log(
      `differential (jpeg vs djpeg -dct float -nosmooth, same scale): ${d.compared} judged (1/1; 1/8 unsubsampled), mean abs ${(d.sumAbs / Math.max(1, d.samples)).toFixed(4)}, max ${d.max}, beyond ±${ROUNDING}: ${d.beyondRounding}; ` +
        `${d.reported} reported only (1/2, 1/4, subsampled 1/8): mean abs ${(d.reportedSumAbs / Math.max(1, d.reportedSamples)).toFixed(3)}, max ${d.reportedMax}; ` +
        `djpeg clean but ours threw: ${d.oursStricter}; ours decoded but djpeg warned or failed: ${d.djpegStricter}; declined to jimp: ${d.declined}`,
    );
    const top = (why: Record<string, number>): string => Object.entries(why).sort((a, b) => b[1] - a[1]).slice(0, 8).map(([m, n]) => `  ${n}  ${m}`).join('\n');
    console.log(`djpeg clean, ours threw, by our message:\n${top(d.stricterWhy)}\nours decoded, djpeg warned or failed, by its first message:\n${top(d.djpegWhy)}`);
  }
  if (args.json) writeFileSync(args.json, `${JSON.stringify({ args: { ...args, formats: args.formats }, peakRssMiB: thread.peakRss / 2 ** 20, summaries }, null, 2)}\n`);
  const failures = summaries.reduce((n, s) => n + s.failures, 0);
  if (failures > 0) {
    console.error(`${failures} failures; reproducers in ${args.out}`);
    process.exitCode = 1;
  }
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exitCode = 2;
});
