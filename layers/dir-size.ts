import { readdirSync, statSync } from 'node:fs';
import path from 'node:path';

/**
 * Unzipped size of a folder, bytes: the sum of its regular files (what Lambda counts
 * against the 250 MiB limit). Symbolic links are not followed. Synchronous because CDK
 * constructs, which call it, cannot await.
 */
export function directoryBytes(dir: string): number {
  let total = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, entry.name);
    if (entry.isDirectory()) total += directoryBytes(p);
    else if (entry.isFile()) total += statSync(p).size;
  }
  return total;
}
