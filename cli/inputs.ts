import { readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { glob, isDynamicPattern } from 'tinyglobby';

import { FileNotFoundError } from '../core/errors.js';

/** File extensions treated as images when a folder or glob is expanded. */
export const IMAGE_EXTENSIONS = new Set(['.jpg', '.jpeg', '.jpe', '.png', '.bmp', '.gif', '.tif', '.tiff']);

function isImageName(name: string): boolean {
  return IMAGE_EXTENSIONS.has(path.extname(name).toLowerCase());
}

async function walk(dir: string, out: string[]): Promise<void> {
  const entries = await readdir(dir, { withFileTypes: true });
  entries.sort((a, b) => a.name.localeCompare(b.name));
  for (const e of entries) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) await walk(p, out);
    else if (e.isFile() && isImageName(e.name)) out.push(p);
  }
}

/**
 * Expands CLI arguments into image paths, in argument order: a file stays as given (whatever
 * its extension, so a mis-named file still gets its own typed error), a folder is walked
 * recursively for image extensions, a quoted glob is expanded. A path that does not exist is
 * kept, so the caller reports it as that image's error and the others go on. A file named by
 * several arguments (`photos/ 'photos/*.jpg' photos/cat.jpg`) is listed once, where it first appears.
 */
export async function expandInputs(args: readonly string[]): Promise<string[]> {
  const all: string[] = [];
  for (const arg of args) await expandOne(arg, all);
  const seen = new Set<string>();
  return all.filter((p) => {
    const key = path.resolve(p);
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

async function expandOne(arg: string, out: string[]): Promise<void> {
  if (isDynamicPattern(arg)) {
    const matches = await glob(arg, { onlyFiles: true, absolute: false, expandDirectories: false });
    out.push(...matches.filter(isImageName).sort());
    return;
  }
  const s = await stat(arg).catch(() => null);
  if (s?.isDirectory()) await walk(arg, out);
  else out.push(arg);
}

/** Reads image files; an unreadable path becomes a FileNotFoundError in its slot. */
export async function readImages(paths: readonly string[]): Promise<Array<Uint8Array | FileNotFoundError>> {
  return Promise.all(paths.map((p) => readFile(p).catch((cause: unknown) => new FileNotFoundError(p, cause))));
}
