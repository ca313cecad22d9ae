/**
 * `resnet` — the command-line adapter over the classification core: list, fetch and build
 * models, classify images, validate accuracy, sweep a bucket for a backlog, and run batch jobs.
 */
import { Command, InvalidArgumentError as CommanderArgError, Option } from 'commander';

import { registerBatchCommand } from '../batch/index.js';
import { Classifier, type ClassifierOptions } from '../core/classifier.js';
import { describeError, ResnetError } from '../core/errors.js';
import { cachedModelPaths, defaultCacheDir, fetchModel } from '../core/fetch/index.js';
import { parseLabelOptions } from '../core/hierarchy/options.js';
import { writeResNet, type ResNetBuildOptions } from '../core/model-builder/index.js';
import { ZOO_MODELS } from '../core/registry.js';
import { humanBlock, humanError, jsonErrorLine, jsonLine, table } from './format.js';
import { expandInputs, readImages } from './inputs.js';
import { demoModelFlags, offlineRoutes, warnIfUntrained } from './offline.js';
import { createProgress } from './progress.js';
import { registerQuantizeCommand } from './quantize.js';
import { registerSweepCommand } from './sweep.js';
import { validateFolder } from './validate.js';
import { packageVersion } from './version.js';

function positiveInt(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new CommanderArgError('must be a whole number >= 1');
  return n;
}

interface ClassifyFlags {
  top: number;
  tenCrop?: boolean;
  json?: boolean;
  format?: 'table' | 'json' | 'rekognition';
  batchSize: number;
  minConfidence?: string;
  maxLabels?: string;
  includeLabels?: string;
  excludeLabels?: string;
  includeCategories?: string;
  excludeCategories?: string;
  parents?: boolean;
}

interface ModelFlags {
  model: string;
  labels?: string;
  threads?: number;
  download?: boolean;
  demo?: boolean;
}

function modelOptions(cmd: Command): Command {
  return cmd
    .option('-m, --model <id|path>', 'zoo model id (see `resnet models`) or path to an .onnx file', process.env.MODEL_ID ?? 'resnet50-v2')
    .option('-l, --labels <file>', 'labels file for a user model: one class per line, "<id> <name>"')
    .option('--threads <n>', 'onnxruntime intra-op threads (default: all cores)', positiveInt)
    .option('--no-download', 'never download a zoo model that is not cached')
    .option('--demo', 'use the untrained ResNet-50 v2 that `npm start` serves offline (generated locally; its labels are meaningless)');
}

/** Loads the model the flags name (or the demo model) and warns once when it is untrained. */
async function loadClassifier(flags: ModelFlags): Promise<Classifier> {
  const progress = createProgress(`fetch ${flags.model}`, 'bytes');
  const model = flags.demo ? await demoModelFlags() : { model: flags.model, ...(flags.labels ? { labels: flags.labels } : {}) };
  const opts: ClassifierOptions = {
    ...model,
    download: flags.download !== false,
    onProgress: (d, t) => progress.update(d, t),
    ...(flags.threads ? { threads: flags.threads } : {}),
  };
  try {
    const classifier = await Classifier.load(opts);
    warnIfUntrained(classifier.info);
    return classifier;
  } finally {
    progress.stop();
  }
}

/** Builds the commander program; exported so tests can run commands in-process. */
export function buildProgram(): Command {
  const program = new Command('resnet')
    .description('Classify images with the ONNX Model Zoo ResNets (or your own ResNet-style ONNX classifier).')
    .version(packageVersion(), '-V, --version', 'print the version')
    // Program options only before the sub-command: `build-model --version 1` is the ResNet version.
    .enablePositionalOptions()
    .showHelpAfterError();

  program
    .command('models')
    .description('list the zoo models, their published accuracy and whether they are cached')
    .option('--json', 'one JSON object per line')
    .action((flags: { json?: boolean }) => {
      const cache = defaultCacheDir();
      if (flags.json) {
        for (const m of ZOO_MODELS) console.log(JSON.stringify({ ...m, cached: cachedModelPaths(m.id, cache) !== null }));
        return;
      }
      const rows = [['id', 'depth', 'ver', 'size', 'top-1', 'top-5', 'batch', 'opset', 'cached']];
      for (const m of ZOO_MODELS) {
        rows.push([
          m.id,
          String(m.depth),
          `v${m.version}`,
          `${(m.bytes / 1e6).toFixed(1)} MB`,
          `${m.top1.toFixed(2)}%`,
          `${m.top5.toFixed(2)}%`,
          m.batch,
          String(m.opset),
          cachedModelPaths(m.id, cache) ? 'yes' : 'no',
        ]);
      }
      console.log(table(rows));
      console.log(`\ncache: ${cache} (set RESNET_CACHE_DIR to move it)`);
    });

  program
    .command('fetch')
    .description('download zoo models and the ImageNet labels into the cache, verifying checksums')
    .argument('<ids...>', 'model ids, see `resnet models`')
    .action(async (ids: string[]) => {
      for (const id of ids) {
        const progress = createProgress(id, 'bytes');
        try {
          const paths = await fetchModel(id, { onProgress: (d, t) => progress.update(d, t) });
          progress.stop();
          console.log(`${id}: ${paths.modelPath}\n${' '.repeat(id.length)}  ${paths.labelsPath}`);
        } finally {
          progress.stop();
        }
      }
    });

  program
    .command('build-model')
    .description('write a ResNet v1/v2 ONNX graph with seeded (untrained) weights, zoo conventions')
    .addOption(new Option('--arch <arch>', 'architecture').choices(['resnet18', 'resnet34', 'resnet50', 'resnet101', 'resnet152']).makeOptionMandatory())
    .addOption(new Option('--version <v>', 'ResNet version: 1 (post-activation) or 2 (pre-activation)').choices(['1', '2']).default('2'))
    .requiredOption('--out <file>', 'output .onnx path')
    .option('--seed <n>', 'weight seed', (v) => Number.parseInt(v, 10), 0)
    .addOption(new Option('--batch <b>', 'batch dimension: fixed 1 or dynamic').choices(['1', 'dynamic']).default('dynamic'))
    .option('--classes <n>', 'output classes', positiveInt, 1000)
    .action(async (flags: { arch: string; version: string; out: string; seed: number; batch: string; classes: number }) => {
      const opts: ResNetBuildOptions = {
        depth: Number(flags.arch.replace('resnet', '')) as ResNetBuildOptions['depth'],
        version: Number(flags.version) as 1 | 2,
        seed: flags.seed,
        batch: flags.batch === '1' ? 1 : 'dynamic',
        classes: flags.classes,
      };
      const r = await writeResNet(opts, flags.out);
      console.log(`${r.path}: ${flags.arch} v${opts.version}, ${(r.parameters / 1e6).toFixed(2)} M parameters, ${(r.bytes / 1e6).toFixed(1)} MB, batch ${flags.batch}`);
    });

  modelOptions(
    program
      .command('classify')
      .description('classify images (files, folders, globs); top-k labels per image')
      .argument('<inputs...>', 'image files, folders (recursive) or quoted globs'),
  )
    .option('-k, --top <k>', 'classes per image', positiveInt, 5)
    .option('--ten-crop', 'ten-crop test-time augmentation (slower, +1-2% top-1)')
    .option('--json', 'one JSON object per line per image (same as --format json)')
    .addOption(new Option('--format <format>', 'table, json (one object per line) or rekognition (DetectLabels\' response shape, one per line)').choices(['table', 'json', 'rekognition']))
    .option('--min-confidence <n>', 'lowest confidence reported, 0-100 (default: classes none, parents 50; rekognition 55)')
    .option('--max-labels <n>', 'most parents reported (rekognition: most labels)')
    .option('--include-labels <names>', 'only these labels (comma-separated names, aliases or WordNet ids)')
    .option('--exclude-labels <names>', 'never these labels')
    .option('--include-categories <names>', 'only labels in these categories (e.g. Animals,Vehicles)')
    .option('--exclude-categories <names>', 'never labels in these categories')
    .option('--no-parents', 'report no parents (WordNet ancestors)')
    .option('--batch-size <n>', 'images per inference call (dynamic-batch models)', positiveInt, 8)
    .action(async (inputs: string[], flags: ModelFlags & ClassifyFlags) => {
      const files = await expandInputs(inputs);
      if (files.length === 0) throw new ResnetError('FILE_NOT_FOUND', `No images matched ${inputs.join(' ')}.`);
      const format = flags.format ?? (flags.json ? 'json' : 'table');
      const labelOpts = parseLabelOptions({
        minConfidence: flags.minConfidence,
        maxLabels: flags.maxLabels,
        includeLabels: flags.includeLabels,
        excludeLabels: flags.excludeLabels,
        includeCategories: flags.includeCategories,
        excludeCategories: flags.excludeCategories,
        ...(flags.parents === false ? { parents: 'false' } : {}),
      });
      const classifier = await loadClassifier(flags);
      if (classifier.tree.placedClasses === 0) {
        console.error(`resnet: the labels of ${classifier.modelId} carry no WordNet ids (such as n02123045), so answers have no parents and categories.`);
      }
      const classifyOpts =
        format === 'rekognition'
          ? classifier.rekognitionOptions(labelOpts)
          : { top: flags.top, labels: labelOpts };
      let failed = 0;
      try {
        for (let i = 0; i < files.length; i += flags.batchSize) {
          const chunk = files.slice(i, i + flags.batchSize);
          const read = await readImages(chunk);
          const readable = read.filter((r): r is Uint8Array => r instanceof Uint8Array);
          const results = await classifier.classifyMany(readable, { ...classifyOpts, ...(flags.tenCrop ? { tenCrop: true } : {}) });
          let k = 0;
          read.forEach((r, j) => {
            const res = r instanceof Uint8Array ? results[k++]! : r;
            const image = chunk[j]!;
            if (res instanceof ResnetError) {
              failed++;
              console.log(format === 'table' ? humanError(image, res.toJSON()) : jsonErrorLine(image, res.toJSON()));
            } else if (format === 'rekognition') {
              console.log(JSON.stringify({ image, ...classifier.toRekognition(res, labelOpts) }));
            } else {
              console.log(format === 'json' ? jsonLine(image, res, classifier.info.untrained) : humanBlock(image, res));
            }
          });
        }
      } finally {
        await classifier.dispose();
      }
      if (failed > 0) {
        if (format === 'table') console.error(`${failed} of ${files.length} images failed.`);
        process.exitCode = 1;
      }
    });

  modelOptions(
    program
      .command('validate')
      .description('top-1/top-5 accuracy over a labelled folder (ImageNet layout: one sub-folder per WordNet id)')
      .argument('<dir>', 'validation folder'),
  )
    .option('--ten-crop', 'ten-crop test-time augmentation')
    .option('--limit <n>', 'only the first n images', positiveInt)
    .option('--compare <id|path>', 'a second model (e.g. the int8 file `resnet quantize` wrote) validated on the same images, same labels')
    .option('--json', 'print the report as JSON')
    .action(async (dir: string, flags: ModelFlags & { tenCrop?: boolean; limit?: number; json?: boolean; compare?: string }) => {
      const models = [flags.model, ...(flags.compare ? [flags.compare] : [])];
      if (flags.demo && flags.compare) throw new ResnetError('INVALID_ARGUMENT', '--demo replaces --model; it cannot be combined with --compare.');
      const rows = [['model', 'images', 'top-1', 'top-5', 'published top-1', 'published top-5', 'img/s']];
      for (const model of models) {
        const classifier = await loadClassifier({ ...flags, model, ...(model === flags.compare ? { demo: false } : {}) });
        try {
          const report = await validateFolder(classifier, dir, {
            progress: createProgress(`validate ${classifier.modelId}`, 'items'),
            ...(flags.tenCrop ? { tenCrop: true } : {}),
            ...(flags.limit ? { limit: flags.limit } : {}),
          });
          if (flags.json) {
            console.log(JSON.stringify({ model: classifier.modelId, ...(classifier.info.untrained ? { untrained: true } : {}), ...report }));
            continue;
          }
          const published = ZOO_MODELS.find((m) => m.id === classifier.modelId);
          rows.push([
            classifier.modelId + (classifier.info.untrained ? ' (UNTRAINED)' : '') + (flags.tenCrop ? ' (ten-crop)' : ''),
            String(report.images),
            `${(report.top1 * 100).toFixed(2)}%`,
            `${(report.top5 * 100).toFixed(2)}%`,
            published ? `${published.top1.toFixed(2)}%` : '-',
            published ? `${published.top5.toFixed(2)}%` : '-',
            (report.images / report.seconds).toFixed(1),
          ]);
          const failures = Object.entries(report.failures);
          if (failures.length) console.log(`${classifier.modelId} failed: ${failures.map(([c, n]) => `${c} ${n}`).join(', ')}`);
          if (report.unknownClasses.length && model === flags.model) console.log(`skipped folders that are not class ids: ${report.unknownClasses.join(', ')}`);
        } finally {
          await classifier.dispose();
        }
      }
      if (!flags.json) console.log(table(rows));
    });

  registerBatchCommand(program);
  registerSweepCommand(program);
  registerQuantizeCommand(program);

  return program;
}

/** Runs the CLI; typed errors print their code and message and exit 2 (usage/set-up problems). */
export async function main(argv: string[]): Promise<void> {
  try {
    await buildProgram().parseAsync(argv);
  } catch (err) {
    const e = describeError(err);
    console.error(`resnet: ${e.code}: ${e.message}`);
    const routes = offlineRoutes(e.code);
    if (routes) console.error(routes);
    process.exitCode = 2;
    if (!(err instanceof ResnetError) && process.env.RESNET_DEBUG) console.error(err);
  }
}
