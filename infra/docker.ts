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
