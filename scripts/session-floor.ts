/**
 * The cold-start floor bench:artifacts compares the functions against: in a fresh `node`
 * process, a bare onnxruntime session created on an unoptimised zoo-shaped model with the options
 * a plain onnxruntime user would pick (graph optimisation `all`, N intra-op threads), then one
 * inference. Run as a child so nothing of the parent (loaded libraries, warm allocator) helps it.
 *
 * Child usage: node dist/scripts/session-floor.js <model.onnx> <threads>  (prints one JSON line)
 */
import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

/** One floor measurement, milliseconds. */
export interface FloorSample {
  /** `InferenceSession.create`. */
  readonly createMs: number;
  /** The first `run` of one 224x224 image. */
  readonly firstRunMs: number;
  /** Both: the floor. */
  readonly totalMs: number;
}

/** Measures the floor once in a child process. */
export async function measureFloor(modelPath: string, threads: number): Promise<FloorSample> {
  const self = fileURLToPath(import.meta.url);
  const out: string[] = [];
  const code = await new Promise<number | null>((resolve, reject) => {
    const child = spawn(process.execPath, [self, modelPath, String(threads)], { stdio: ['ignore', 'pipe', 'inherit'] });
    child.stdout.on('data', (b: Buffer) => out.push(b.toString()));
    child.on('error', reject);
    child.on('close', resolve);
  });
  if (code !== 0) throw new Error(`the floor process exited with ${code}: ${out.join('')}`);
  return JSON.parse(out.join('').trim().split('\n').pop() ?? '') as FloorSample;
}

async function child(modelPath: string, threads: number): Promise<void> {
  const ort = await import('onnxruntime-node');
  let t = performance.now();
  const session = await ort.InferenceSession.create(modelPath, {
    executionProviders: ['cpu'], intraOpNumThreads: threads, interOpNumThreads: 1, executionMode: 'sequential', graphOptimizationLevel: 'all',
  });
  const createMs = performance.now() - t;
  const input = session.inputNames.find((n) => n === 'data') ?? session.inputNames[0]!;
  const x = new Float32Array(3 * 224 * 224).map((_, i) => Math.sin(i));
  t = performance.now();
  await session.run({ [input]: new ort.Tensor('float32', x, [1, 3, 224, 224]) });
  const firstRunMs = performance.now() - t;
  console.log(JSON.stringify({ createMs, firstRunMs, totalMs: createMs + firstRunMs } satisfies FloorSample));
}

if (process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) {
  child(process.argv[2]!, Number(process.argv[3] ?? 2)).catch((err: unknown) => {
    console.error(err instanceof Error ? err.message : err);
    process.exit(1);
  });
}
