/**
 * Reads the symbol versions a shared object needs from its libraries (the ELF `.gnu.version_r`
 * section, what `readelf -V` prints as "Version needs"), so the layer's native files can be
 * checked against the glibc and libstdc++ of the Lambda runtime without loading them. Works for
 * any 64-bit little-endian ELF, so x86_64 and arm64 files are read the same way on any host.
 *
 * Usage: npx tsx layers/elf-version-needs.ts <file.so|file.node>...
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

/** Version needs of one ELF file: library name → version names (e.g. `libc.so.6` → `GLIBC_2.28`). */
export interface ElfVersionNeeds {
  readonly file: string;
  /** `EM_X86_64` (62) or `EM_AARCH64` (183), as `x86_64` / `aarch64` / `machine-<n>`. */
  readonly machine: string;
  readonly needs: Readonly<Record<string, readonly string[]>>;
}

const SHT_GNU_VERNEED = 0x6ffffffe;
const MACHINES: Record<number, string> = { 62: 'x86_64', 183: 'aarch64' };

/** Parses a file's version needs. @throws Error for a file that is not a 64-bit little-endian ELF. */
export function elfVersionNeeds(file: string): ElfVersionNeeds {
  const b = readFileSync(file);
  if (b.readUInt32BE(0) !== 0x7f454c46 || b[4] !== 2 || b[5] !== 1) throw new Error(`${file} is not a 64-bit little-endian ELF file.`);
  const machine = b.readUInt16LE(0x12);
  const shoff = Number(b.readBigUInt64LE(0x28));
  const shentsize = b.readUInt16LE(0x3a);
  const shnum = b.readUInt16LE(0x3c);
  const section = (i: number): { type: number; offset: number; size: number; link: number; info: number } => {
    const h = shoff + i * shentsize;
    return { type: b.readUInt32LE(h + 4), offset: Number(b.readBigUInt64LE(h + 0x18)), size: Number(b.readBigUInt64LE(h + 0x20)), link: b.readUInt32LE(h + 0x28), info: b.readUInt32LE(h + 0x2c) };
  };
  const needs: Record<string, string[]> = {};
  for (let i = 0; i < shnum; i++) {
    const s = section(i);
    if (s.type !== SHT_GNU_VERNEED) continue;
    const strtab = section(s.link).offset;
    const str = (off: number): string => {
      const start = strtab + off;
      return b.toString('latin1', start, b.indexOf(0, start));
    };
    // sh_info holds the number of Verneed entries.
    let vn = s.offset;
    for (let n = 0; n < s.info; n++) {
      const cnt = b.readUInt16LE(vn + 2);
      const lib = str(b.readUInt32LE(vn + 4));
      let aux = vn + b.readUInt32LE(vn + 8);
      const versions = (needs[lib] ??= []);
      for (let k = 0; k < cnt; k++) {
        versions.push(str(b.readUInt32LE(aux + 8)));
        aux += b.readUInt32LE(aux + 12);
      }
      const next = b.readUInt32LE(vn + 12);
      if (next === 0) break;
      vn += next;
    }
  }
  return { file, machine: MACHINES[machine] ?? `machine-${machine}`, needs };
}

/** Compares dotted versions numerically (`2.9` < `2.28`). */
export function compareVersions(a: string, b: string): number {
  const pa = a.split('.').map(Number);
  const pb = b.split('.').map(Number);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}

/**
 * The highest version of a family (`GLIBC`, `GLIBCXX`, `CXXABI`) one file needs, or undefined.
 * Only the family's numbered versions count (`GLIBC_PRIVATE` does not).
 */
export function maxVersion(n: ElfVersionNeeds, family: string): string | undefined {
  const re = new RegExp(`^${family}_(\\d+(?:\\.\\d+)*)$`);
  const found = Object.values(n.needs).flat().map((v) => re.exec(v)?.[1]).filter((v): v is string => v !== undefined);
  return found.sort(compareVersions).at(-1);
}

if (process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) {
  for (const f of process.argv.slice(2)) {
    const n = elfVersionNeeds(f);
    console.log(`${f} (${n.machine}): GLIBC ${maxVersion(n, 'GLIBC') ?? '-'}, GLIBCXX ${maxVersion(n, 'GLIBCXX') ?? '-'}, CXXABI ${maxVersion(n, 'CXXABI') ?? '-'}; needs ${Object.keys(n.needs).join(', ')}`);
  }
}
