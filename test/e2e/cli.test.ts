import { execFile } from 'node:child_process';
import { copyFile, mkdir, mkdtemp, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

import { testModelPath } from '../helpers/models.js';
import { REPO_ROOT, PHOTOS_DIR, SYNSET_PATH } from '../helpers/paths.js';

const exec = promisify(execFile);

/** Runs the CLI from its TypeScript sources; resolves with stdout, stderr and the exit code. */
async function resnet(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ stdout: string; stderr: string; code: number }> {
  try {
    const { stdout, stderr } = await exec(process.execPath, ['--import', 'tsx', path.join(REPO_ROOT, 'cli/resnet.ts'), ...args], {
      cwd: REPO_ROOT,
      env: { ...process.env, ...env },
      maxBuffer: 32 * 1024 * 1024,
    });
    return { stdout, stderr, code: 0 };
  } catch (e) {
    const err = e as { stdout: string; stderr: string; code: number };
    return { stdout: err.stdout, stderr: err.stderr, code: err.code };
  }
}

interface JsonLine {
  image: string;
  model?: string;
  labels?: Array<{ rank: number; index: number; id: string; name: string; score: number }>;
  timingsMs?: Record<string, number>;
  error?: { code: string; message: string };
}

describe('resnet CLI', () => {
  let model: string;
  let tmp: string;

  beforeAll(async () => {
    model = await testModelPath({ depth: 18, version: 1, batch: 1, classes: 1000, seed: 3 });
    tmp = await mkdtemp(path.join(os.tmpdir(), 'resnet-cli-'));
  });

  it('classify --json prints one object per image, errors on their own line, and exits non-zero', async () => {
    const empty = path.join(tmp, 'empty.jpg');
    await writeFile(empty, '');
    const cat = path.join(PHOTOS_DIR, 'chelsea.jpg');
    const { stdout, code } = await resnet(['classify', cat, empty, path.join(tmp, 'missing.png'), '--model', model, '--labels', SYNSET_PATH, '--top', '3', '--json']);
    const lines = stdout.trim().split('\n').map((l) => JSON.parse(l) as JsonLine);
    expect(lines.map((l) => l.image)).toEqual([cat, empty, path.join(tmp, 'missing.png')]);
    expect(lines[0]!.labels).toHaveLength(3);
    expect(lines[0]!.labels![0]).toEqual(expect.objectContaining({ rank: 1, id: expect.stringMatching(/^n\d{8}$/) }));
    expect(Object.keys(lines[0]!.timingsMs!).sort()).toEqual(['decode', 'inference', 'postprocess', 'preprocess', 'total']);
    expect(lines[1]!.error!.code).toBe('EMPTY_INPUT');
    expect(lines[2]!.error!.code).toBe('FILE_NOT_FOUND');
    expect(code).toBe(1);
  });

  it('classify prints a readable table and exits 0 when every image succeeds', async () => {
    const { stdout, code } = await resnet(['classify', path.join(PHOTOS_DIR, 'rocket.jpg'), '--model', model, '--labels', SYNSET_PATH]);
    expect(code).toBe(0);
    expect(stdout).toMatch(/rocket\.jpg {2}\(resnet18-v1-b1/);
    expect(stdout.split('\n').filter((l) => /^\s+\d\s+n\d{8}\s+\d+\.\d\d%/.test(l))).toHaveLength(5);
  });

  it('--format rekognition: each label no more confident than its parents; dog is 100 x the sum of its 118 breeds from --json --top 1000', async () => {
    const photo = path.join(PHOTOS_DIR, 'chelsea.jpg');
    const common = ['classify', photo, '--model', model, '--labels', SYNSET_PATH];
    const [rek, all] = await Promise.all([
      resnet([...common, '--format', 'rekognition', '--min-confidence', '0']),
      resnet([...common, '--json', '--top', '1000']),
    ]);
    expect(rek.code).toBe(0);
    const answer = JSON.parse(rek.stdout) as { LabelModelVersion: string; Labels: Array<{ Id: string; Name: string; Confidence: number; Parents: Array<{ Name: string; Id: string }> }> };
    expect(answer.LabelModelVersion).toBe('resnet18-v1-b1-c1000-s3+WordNet 3.0');
    const conf = new Map(answer.Labels.map((l) => [l.Id, l.Confidence]));
    expect(answer.Labels.length).toBe(1840);
    for (const l of answer.Labels) for (const p of l.Parents) expect(l.Confidence).toBeLessThanOrEqual(conf.get(p.Id)!);
    const dogs = new Set(answer.Labels.filter((l) => l.Parents.some((p) => p.Id === 'n02084071') && /^n0[0-9]+$/.test(l.Id)).map((l) => l.Id));
    const leaves = (JSON.parse(all.stdout) as JsonLine).labels!;
    expect(leaves).toHaveLength(1000);
    const dogLeaves = leaves.filter((l) => dogs.has(l.id) && answer.Labels.find((x) => x.Id === l.id));
    expect(dogLeaves).toHaveLength(118);
    const sum = dogLeaves.reduce((a, l) => a + l.score, 0);
    expect(Math.abs(conf.get('n02084071')! - 100 * sum)).toBeLessThan(1e-3);
  });

  it('classify shows parents (^) in the table and in --json, and takes the DetectLabels options', async () => {
    const photo = path.join(PHOTOS_DIR, 'chelsea.jpg');
    const table = await resnet(['classify', photo, '--model', model, '--labels', SYNSET_PATH, '--min-confidence', '0', '--max-labels', '3', '--include-categories', 'Animals']);
    expect(table.code).toBe(0);
    expect(table.stdout.split('\n').filter((l) => /^\s+\^\s+n\d{8}\s+\d+\.\d\d%/.test(l))).toHaveLength(3);
    const json = await resnet(['classify', photo, '--model', model, '--labels', SYNSET_PATH, '--json', '--min-confidence', '0', '--exclude-labels', 'animal', '--max-labels', '2']);
    const line = JSON.parse(json.stdout) as { parents: Array<{ rank: number; id: string; name: string; score: number }> };
    expect(line.parents.map((p) => p.rank)).toEqual([1, 2]);
    expect(line.parents.map((p) => p.name)).not.toContain('animal');
    const none = await resnet(['classify', photo, '--model', model, '--labels', SYNSET_PATH, '--json', '--no-parents']);
    expect((JSON.parse(none.stdout) as { parents: unknown[] }).parents).toEqual([]);
    const bad = await resnet(['classify', photo, '--model', model, '--labels', SYNSET_PATH, '--min-confidence', '101']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/minConfidence must be a number from 0 to 100/);
  });

  it('says once that labels without WordNet ids get no parents', async () => {
    const bare = path.join(tmp, 'bare-labels.txt');
    await writeFile(bare, Array.from({ length: 1000 }, (_, i) => `class ${i}`).join('\n'));
    const photo = path.join(PHOTOS_DIR, 'chelsea.jpg');
    const { stderr, stdout, code } = await resnet(['classify', photo, path.join(PHOTOS_DIR, 'rocket.jpg'), '--model', model, '--labels', bare, '--json']);
    expect(code).toBe(0);
    expect(stderr.match(/carry no WordNet ids/g)).toHaveLength(1);
    for (const l of stdout.trim().split('\n')) expect((JSON.parse(l) as { parents: unknown[] }).parents).toEqual([]);
  });

  it('validate computes top-1/top-5 over an ImageNet-layout folder', async () => {
    // Put each photo under the class the model predicts, and one under a class it does not:
    // an untrained model still has a known answer, so the accuracy is exact.
    const names = ['chelsea.jpg', 'rocket.jpg', 'coffee.png', 'chelsea.png'];
    const { stdout } = await resnet(['classify', ...names.map((n) => path.join(PHOTOS_DIR, n)), '--model', model, '--labels', SYNSET_PATH, '--top', '5', '--json']);
    const preds = stdout.trim().split('\n').map((l) => JSON.parse(l) as JsonLine);
    const valDir = path.join(tmp, 'val');
    for (const [i, p] of preds.entries()) {
      const predicted = p.labels![0]!.id;
      // The last image goes to a class outside its top 5: a miss for both metrics.
      const misses = ['n15075141', 'n01440764', 'n01443537', 'n01484850', 'n01491361', 'n01494475'];
      const folder = i === names.length - 1 ? misses.find((m) => p.labels!.every((l) => l.id !== m))! : predicted;
      await mkdir(path.join(valDir, folder), { recursive: true });
      await copyFile(path.join(PHOTOS_DIR, names[i]!), path.join(valDir, folder, `${i}-${names[i]}`));
    }
    const r = await resnet(['validate', valDir, '--model', model, '--labels', SYNSET_PATH, '--json']);
    expect(r.code).toBe(0);
    const report = JSON.parse(r.stdout) as { images: number; top1: number; top5: number };
    expect(report.images).toBe(4);
    expect(report.top1).toBeCloseTo(0.75, 6);

    // The int8 model of the same file, validated beside it: one report per model, same images.
    const int8 = path.join(tmp, 'int8.onnx');
    const q = await resnet(['quantize', '--model', model, '--calibrate', PHOTOS_DIR, '--out', int8, '--per-channel', '--holdout', '0', '--json']);
    expect(q.code).toBe(0);
    const both = await resnet(['validate', valDir, '--model', model, '--compare', int8, '--labels', SYNSET_PATH, '--json']);
    expect(both.code).toBe(0);
    const reports = both.stdout.trim().split('\n').map((l) => JSON.parse(l) as { model: string; images: number; top1: number; top5: number });
    expect(reports.map((x) => x.model)).toEqual(['resnet18-v1-b1-c1000-s3', 'int8']);
    expect(reports.map((x) => x.images)).toEqual([4, 4]);
  }, 120_000);

  it('models lists the twelve zoo ids', async () => {
    const { stdout, code } = await resnet(['models', '--json'], { RESNET_CACHE_DIR: tmp });
    expect(code).toBe(0);
    const ids = stdout.trim().split('\n').map((l) => (JSON.parse(l) as { id: string }).id);
    expect(ids).toHaveLength(12);
    expect(ids).toEqual(expect.arrayContaining(['resnet18-v1', 'resnet152-v2', 'resnet50-v1-12', 'resnet50-v1-12-int8']));
  });

  it('build-model writes a loadable model with the requested classes', async () => {
    const out = path.join(tmp, 'tiny.onnx');
    const { stdout, code } = await resnet(['build-model', '--arch', 'resnet18', '--version', '1', '--classes', '10', '--out', out]);
    expect(code).toBe(0);
    expect(stdout).toContain('11.18 M parameters');
    expect((await stat(out)).size).toBeGreaterThan(40e6);
  });

  it('a zoo model missing from the cache fails with exit 2 and the fetch hint', async () => {
    const { stderr, code } = await resnet(['classify', path.join(PHOTOS_DIR, 'chelsea.jpg'), '--model', 'resnet18-v2', '--no-download'], { RESNET_CACHE_DIR: tmp });
    expect(code).toBe(2);
    expect(stderr).toContain('MODEL_NOT_CACHED');
    expect(stderr).toContain('resnet fetch resnet18-v2');
  });
});
