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

/** What onnxruntime-node says it can run, and whether the CUDA provider library is really there. */
export function availableBackends(): { listed: string[]; cudaInstalled: boolean } {
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
  return { listed, cudaInstalled };
}

/** Providers to try, in order, for a `--ep` choice. */
export function candidateProviders(choice: EpChoice, avail = availableBackends()): string[] {
  if (choice !== 'auto') return [choice];
  const out: string[] = [];
  if (avail.listed.includes('cuda') && avail.cudaInstalled) out.push('cuda');
  if (avail.listed.includes('webgpu')) out.push('webgpu');
  out.push('cpu');
  return out;
}

/**
 * Opens the classifier with the first provider that works.
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
  const candidates = candidateProviders(choice, avail);
  let lastErr: unknown;
  for (const ep of candidates) {
    try {
      const value = await open([ep]);
      log(`execution provider: ${ep} (${choice === 'auto' ? `auto; tried ${candidates.slice(0, candidates.indexOf(ep) + 1).join(' → ')}` : 'forced'})`);
      return { value, ep };
    } catch (err) {
      lastErr = err;
      log(`execution provider ${ep} unavailable: ${err instanceof Error ? err.message.split('\n')[0] : String(err)}`);
    }
  }
  throw lastErr;
}
