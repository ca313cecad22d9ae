/**
 * Whether a Docker client is there for `cdk deploy` to build the GPU worker's image with. Synth
 * never needs it, so without this check a user first learns of it at deploy.
 */
import { accessSync, constants } from 'node:fs';
import path from 'node:path';

/**
 * Finds the Docker client CDK would run: `CDK_DOCKER` when set, else `docker` on PATH.
 * @returns its path, or null when there is none
 */
export function findDocker(env: NodeJS.ProcessEnv = process.env): string | null {
  const name = env.CDK_DOCKER || 'docker';
  const candidates = name.includes('/') ? [name] : (env.PATH ?? '').split(path.delimiter).filter(Boolean).map((d) => path.join(d, name));
  for (const c of candidates) {
    try {
      accessSync(c, constants.X_OK);
      return c;
    } catch {
      // not here
    }
  }
  return null;
}

/** What the image build never needs even inside a copied folder: outputs, caches and model files. */
const NEVER_IN_CONTEXT = ['**/node_modules', '**/dist', 'layers/build', '**/.cache', '**/*.onnx', '**/*.onnx.data'];

/**
 * Exclude patterns (Docker's .dockerignore syntax) that leave in the build context only what the
 * Dockerfile's COPY instructions read from it, plus the Dockerfile itself. The context decides the
 * image asset's hash: with the whole repository in it, a README edit would rebuild the CUDA image
 * and register a new job definition revision at the next deploy.
 */
export function dockerContextExclude(dockerfileText: string, dockerfile: string): string[] {
  const sources = new Set<string>([dockerfile]);
  for (const line of dockerfileText.split('\n')) {
    const m = /^\s*(?:COPY|ADD)\s+(?!--from)(?:--\S+\s+)*(.+)$/i.exec(line);
    if (!m) continue;
    const parts = m[1]!.trim().split(/\s+/);
    for (const src of parts.slice(0, -1)) sources.add(src.replace(/^\.\//, '').replace(/\/$/, ''));
  }
  return ['**', ...[...sources].sort().flatMap((s) => [`!${s}`, `!${s}/**`]), ...NEVER_IN_CONTEXT];
}
