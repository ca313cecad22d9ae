/**
 * What each deployed Lambda bundle contains: esbuild with the options of
 * infra/constructs/classifier-function.ts (CJS, node24, minified, onnxruntime-node external; the
 * source map left out of the sizes), then the output bytes grouped by npm package.
 *
 *   npm run bundle-contents            # a table per function
 *   npm run bundle-contents -- --json  # the same as JSON
 */
import { build, type Metafile } from 'esbuild';

/** The functions infra/stack.ts deploys, by their handler entry. */
const ENTRIES: Record<string, string> = {
  'classify-api': 'functions/classify-api/handler.ts',
  's3-tagger': 'functions/s3-tagger/handler.ts',
  'sqs-worker': 'functions/sqs-worker/handler.ts',
  sweeper: 'functions/sweeper/handler.ts',
};

/** The npm package an input path belongs to ("(project)" for the repository's own sources). */
function packageOf(input: string): string {
  const i = input.lastIndexOf('node_modules/');
  if (i < 0) return '(project)';
  const rest = input.slice(i + 'node_modules/'.length).split('/');
  return rest[0]!.startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0]!;
}

async function bundle(entry: string): Promise<{ total: number; byPackage: Map<string, number> }> {
  const result = await build({
    entryPoints: [entry],
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: 'node24',
    minify: true,
    external: ['onnxruntime-node'],
    banner: { js: 'const __importMetaUrl = require("url").pathToFileURL(__filename).href;' },
    define: { 'import.meta.url': '__importMetaUrl' },
    metafile: true,
    write: false,
    outfile: 'index.js',
    logLevel: 'error',
  });
  const meta: Metafile = result.metafile;
  const byPackage = new Map<string, number>();
  let total = 0;
  for (const out of Object.values(meta.outputs)) {
    total += out.bytes;
    for (const [input, { bytesInOutput }] of Object.entries(out.inputs)) byPackage.set(packageOf(input), (byPackage.get(packageOf(input)) ?? 0) + bytesInOutput);
  }
  return { total, byPackage };
}

async function main(): Promise<void> {
  const json = process.argv.includes('--json');
  const report: Record<string, { totalBytes: number; packages: Record<string, number> }> = {};
  for (const [name, entry] of Object.entries(ENTRIES)) {
    const { total, byPackage } = await bundle(entry);
    const sorted = [...byPackage].sort((a, b) => b[1] - a[1]);
    report[name] = { totalBytes: total, packages: Object.fromEntries(sorted) };
    if (json) continue;
    console.log(`\n${name} (${entry}): ${(total / 1024).toFixed(0)} KiB minified, ${sorted.length} packages`);
    for (const [pkg, bytes] of sorted) console.log(`  ${pkg.padEnd(44)} ${(bytes / 1024).toFixed(1).padStart(8)} KiB`);
  }
  if (json) console.log(JSON.stringify(report, null, 2));
  else console.log('\nNot in the bundles: onnxruntime-node (the onnxruntime layer, see layers/) and the model (the model layer or S3).');
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exitCode = 1;
});
