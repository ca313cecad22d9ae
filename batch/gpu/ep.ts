/**
 * Execution-provider choice for the batch worker. `auto` tries CUDA (present only when
 * onnxruntime-node was installed with ONNXRUNTIME_NODE_INSTALL=cuda12), then WebGPU (bundled
 * with onnxruntime-node; on NVIDIA it runs through Vulkan), then CPU. "Tries" means opening the
 * real session with that provider: a provider listed but unusable (no driver, no GPU) fails
 * there and the next one is tried.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';

import { InvalidArgumentError } from '../../core/errors.js';

/** Provider names accepted by `--ep`. */
export const EP_CHOICES = ['auto', 'cuda', 'webgpu', 'cpu'] as const;
/** A `--ep` value. */
export type EpChoice = (typeof EP_CHOICES)[number];

/** Validates a `--ep` value. */
export function parseEp(text: string): EpChoice {
  const v = text.trim().toLowerCase();
  if ((EP_CHOICES as readonly string[]).includes(v)) return v as EpChoice;
  throw new InvalidArgumentError(`--ep must be one of ${EP_CHOICES.join(', ')}, got "${text}".`);
}

/** Folders the dynamic loader searches for libvulkan.so.1 on common Linux systems. */
const VULKAN_DIRS = ['/usr/lib/x86_64-linux-gnu', '/usr/lib/aarch64-linux-gnu', '/usr/lib64', '/usr/lib', '/lib/x86_64-linux-gnu', '/lib/aarch64-linux-gnu', '/lib64', '/lib', '/usr/local/lib'];

/**
 * Whether WebGPU can have a backend here. On Linux it runs through Vulkan: without the loader
 * (libvulkan.so.1) opening a WebGPU session only prints a native warning and fails, so `auto`
 * does not try it. Elsewhere (Metal, Direct3D) the answer is left to the real attempt.
 */
export function vulkanLoaderPresent(env: NodeJS.ProcessEnv = process.env, platform: string = process.platform): boolean {
  if (platform !== 'linux') return true;
  const dirs = [...(env.LD_LIBRARY_PATH ?? '').split(':').filter(Boolean), ...VULKAN_DIRS];
  return dirs.some((d) => existsSync(path.join(d, 'libvulkan.so.1')));
}

/** What onnxruntime-node says it can run, and whether the CUDA and WebGPU providers can really run. */
export function availableBackends(): { listed: string[]; cudaInstalled: boolean; vulkan?: boolean } {
  const require = createRequire(import.meta.url);
  const ort = require('onnxruntime-node') as { listSupportedBackends?: () => Array<{ name: string }> };
  const listed = ort.listSupportedBackends?.().map((b) => b.name) ?? ['cpu'];
  // The CUDA provider is not in the npm package; the install script downloads it next to the binding.
  let cudaInstalled = false;
  try {
    const bindingDir = path.join(path.dirname(require.resolve('onnxruntime-node')), '..', 'bin', 'napi-v6', process.platform, process.arch);
    cudaInstalled = existsSync(path.join(bindingDir, 'libonnxruntime_providers_cuda.so'));
  } catch {
    cudaInstalled = false;
  }
  return { listed, cudaInstalled, vulkan: vulkanLoaderPresent() };
}

/** Providers to try, in order, for a `--ep` choice. */
export function candidateProviders(choice: EpChoice, avail = availableBackends()): string[] {
  return providerPlan(choice, avail).candidates;
}

/** Providers to try for a `--ep` choice, and why `auto` passed over the others (for the one log line). */
export function providerPlan(choice: EpChoice, avail = availableBackends()): { candidates: string[]; skipped: string[] } {
  if (choice !== 'auto') return { candidates: [choice], skipped: [] };
  const out: string[] = [];
  const skipped: string[] = [];
  if (avail.listed.includes('cuda') && avail.cudaInstalled) out.push('cuda');
  else skipped.push('CUDA: not installed (ONNXRUNTIME_NODE_INSTALL=cuda12)');
  if (!avail.listed.includes('webgpu')) skipped.push('WebGPU: not in this onnxruntime build');
  else if (avail.vulkan === false) skipped.push('WebGPU: no Vulkan loader (libvulkan.so.1)');
  else out.push('webgpu');
  out.push('cpu');
  return { candidates: out, skipped };
}

/** The first line of an error, and of its cause when the error only wraps it. */
function reasonOf(err: unknown): string {
  const e = err instanceof Error && err.cause instanceof Error ? err.cause : err;
  return e instanceof Error ? e.message.split('\n')[0]! : String(e);
}

/**
 * Opens the classifier with the first provider that works, and logs one line: the provider
 * chosen and why the ones before it were passed over. A forced provider that fails throws.
 * @param open - opens a classifier with the given providers (throws when it cannot)
 * @returns the classifier and the provider in use
 * @throws the last provider's error when none works (or the forced one's)
 */
export async function openWithProvider<T>(
  choice: EpChoice,
  open: (providers: string[]) => Promise<T>,
  log: (msg: string) => void = () => undefined,
  avail = availableBackends(),
): Promise<{ value: T; ep: string }> {
  const { candidates, skipped } = providerPlan(choice, avail);
  const passed = [...skipped];
  let lastErr: unknown;
  for (const ep of candidates) {
    try {
      const value = await open([ep]);
      log(`execution provider: ${ep} (${choice === 'auto' ? (passed.length ? `auto; ${passed.join('; ')}` : 'auto') : 'forced'})`);
      return { value, ep };
    } catch (err) {
      lastErr = err;
      passed.push(`${ep}: ${reasonOf(err)}`);
    }
  }
  throw lastErr;
}
