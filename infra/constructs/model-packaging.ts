/**
 * The onnxruntime layer and the model, packaged as a layer or as an S3 artefact according to
 * {@link decidePackaging}. Exposes the environment, layers and /tmp size the functions need.
 * The model layer holds the configured model form (layers/model-form.ts: by default the graph
 * optimised offline at a portable level, which halves the cold start); the S3 copy, which the GPU batch job
 * and the S3 mode read, is always the original ONNX file, which every execution provider takes.
 */
import { existsSync, statSync } from 'node:fs';
import path from 'node:path';
import { Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as s3assets from 'aws-cdk-lib/aws-s3-assets';
import { Construct } from 'constructs';
import { ensureOnnxruntimeLayer } from '../../layers/build-onnxruntime-layer.js';
import { directoryBytes } from '../../layers/dir-size.js';
import { type PackagingDecision, decidePackaging } from '../../layers/packaging.js';
import { type ModelForm, modelFormDir, readModelForm } from '../../layers/model-form.js';
import { type LayerArch, modelLayerDir } from '../../layers/paths.js';
import type { ModelSource } from '../config.js';
import { MissingArtefactError, PackagingError } from '../errors.js';

/** Props of {@link ModelPackaging}. */
export interface ModelPackagingProps {
  readonly modelId: string;
  readonly modelSource: ModelSource;
  /** Built model-layer folder. @default layers/build/model-<modelId> */
  readonly modelDir?: string;
  /** Form of the model in the model layer; its folder is built before synth (layers/build-model-form.ts). @default 'original' */
  readonly modelForm?: ModelForm;
  /** The int8 model file the `int8` form was made from. */
  readonly int8Model?: string;
  readonly architecture: LayerArch;
  /** Bytes reserved for each function's bundled code, MiB. */
  readonly functionBudgetMb: number;
  /** Also publish the model as S3 objects (the GPU batch job reads it from there). @default false */
  readonly needS3Copy?: boolean;
}

/** Where the model is mounted by the model layer (TEAM contract: MODEL_DIR). */
export const MODEL_LAYER_MOUNT = '/opt/model';

export class ModelPackaging extends Construct {
  readonly decision: PackagingDecision;
  readonly runtimeLayer: lambda.LayerVersion;
  /** Present when decision.mode is 'layer'. */
  readonly modelLayer?: lambda.LayerVersion;
  /** Present in S3 mode or when needS3Copy is set. */
  readonly modelObject?: s3assets.Asset;
  readonly labelsObject?: s3assets.Asset;
  /** Environment variables telling the functions where the model is. */
  readonly environment: Record<string, string>;

  constructor(scope: Construct, id: string, props: ModelPackagingProps) {
    super(scope, id);
    const dir = props.modelDir ? path.resolve(props.modelDir) : modelLayerDir(props.modelId);
    const modelFile = path.join(dir, 'model/model.onnx');
    const labelsFile = path.join(dir, 'model/labels.txt');
    for (const f of [modelFile, labelsFile]) {
      if (!existsSync(f)) {
        throw new MissingArtefactError(`The model layer for ${props.modelId}`, f,
          `Build it first: \`npx tsx layers/build-model-layer.ts --model ${props.modelId}\` (after \`resnet fetch ${props.modelId}\`), ` +
          'or point -c modelDir=<folder> at a folder holding model/model.onnx and model/labels.txt.');
      }
    }
    const form = props.modelForm ?? 'original';
    const layerDir = modelFormDir(dir, form);
    const formSource = form === 'int8' && props.int8Model ? path.resolve(props.int8Model) : modelFile;
    const formBuilt = form === 'original' || readModelForm(layerDir, form, formSource) !== null;
    const runtime = ensureOnnxruntimeLayer({ arch: props.architecture });
    try {
      const decide = (modelLayerBytes: number): PackagingDecision => decidePackaging({
        requested: props.modelSource,
        modelLayerBytes,
        runtimeLayerBytes: runtime.bytes,
        functionBytes: props.functionBudgetMb * 1024 * 1024,
        label: `${props.modelId} on ${props.architecture}`,
      });
      // The layer would hold the form; S3 mode downloads the original file, so /tmp is sized for that.
      const originalBytes = statSync(modelFile).size + statSync(labelsFile).size;
      const decision = decide(formBuilt ? directoryBytes(layerDir) : originalBytes);
      this.decision = decision.mode === 's3' ? decide(originalBytes) : decision;
    } catch (err) {
      throw new PackagingError(err instanceof Error ? err.message : String(err));
    }
    // Not an annotation as well: infra/app.ts prints the reason once, and the ModelPackaging output carries it.

    const arch = props.architecture === 'arm64' ? lambda.Architecture.ARM_64 : lambda.Architecture.X86_64;
    this.runtimeLayer = new lambda.LayerVersion(this, 'OnnxruntimeLayer', {
      code: lambda.Code.fromAsset(runtime.dir),
      compatibleArchitectures: [arch],
      compatibleRuntimes: [lambda.Runtime.NODEJS_24_X, lambda.Runtime.NODEJS_22_X],
      description: `onnxruntime-node ${runtime.version} for linux ${props.architecture}`,
    });
    this.environment = { MODEL_ID: props.modelId };
    if (this.decision.mode === 'layer') {
      if (!formBuilt) {
        throw new MissingArtefactError(`The ${form} form of ${props.modelId}`, layerDir,
          `\`npm run synth\` builds it; or run \`npx tsx layers/build-model-form.ts --model-dir ${dir} --form ${form}${form === 'int8' ? ' --int8-model <file>' : ''}\`, or deploy with -c modelForm=original.`);
      }
      this.modelLayer = new lambda.LayerVersion(this, 'ModelLayer', {
        code: lambda.Code.fromAsset(layerDir),
        description: `${props.modelId} model (${form}) and labels, mounted at ${MODEL_LAYER_MOUNT}`,
      });
      this.environment.MODEL_DIR = MODEL_LAYER_MOUNT;
    }
    if (this.decision.mode === 's3' || props.needS3Copy) {
      this.modelObject = new s3assets.Asset(this, 'ModelObject', { path: modelFile });
      this.labelsObject = new s3assets.Asset(this, 'LabelsObject', { path: labelsFile });
    }
    if (this.decision.mode === 's3' && this.modelObject && this.labelsObject) {
      this.environment.MODEL_S3_URI = this.modelObject.s3ObjectUrl;
      this.environment.LABELS_S3_URI = this.labelsObject.s3ObjectUrl;
    }
  }

  /** Environment for a consumer of the S3 copy (the batch job), which never sees the layer. */
  get s3Environment(): Record<string, string> {
    if (!this.modelObject || !this.labelsObject) return {};
    return { MODEL_ID: this.environment.MODEL_ID, MODEL_S3_URI: this.modelObject.s3ObjectUrl, LABELS_S3_URI: this.labelsObject.s3ObjectUrl };
  }

  /** Layers for a classifier function: onnxruntime, plus the model in layer mode. */
  get layers(): lambda.ILayerVersion[] {
    return this.modelLayer ? [this.runtimeLayer, this.modelLayer] : [this.runtimeLayer];
  }

  /**
   * s3:GetObject on the two model objects only, when they exist (Asset.grantRead would grant
   * read and list on the whole CDK assets bucket).
   */
  grantModelRead(grantee: iam.IGrantable): void {
    const objects = [this.modelObject, this.labelsObject].filter((a): a is s3assets.Asset => a !== undefined);
    if (objects.length === 0) return;
    iam.Grant.addToPrincipal({
      grantee,
      actions: ['s3:GetObject'],
      resourceArns: objects.map((a) => Stack.of(this).formatArn({ service: 's3', region: '', account: '', resource: a.s3BucketName, resourceName: a.s3ObjectKey })),
    });
  }
}
