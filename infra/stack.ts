/**
 * The whole deployment: storage, model packaging, the four functions, upload pipeline, API,
 * scheduled sweeper, GPU batch path and monitoring, each from its own construct.
 */
import { Annotations, type App, CfnOutput, Stack, type StackProps, Tags, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks, ServerlessChecks } from 'cdk-nag';
import type { Construct } from 'constructs';
import { type ResnetConfig, loadConfig } from './config.js';
import { BacklogInventory } from './constructs/backlog-inventory.js';
import { BacklogSweeper } from './constructs/backlog-sweeper.js';
import { ClassifierFunction } from './constructs/classifier-function.js';
import { ClassifyApi } from './constructs/classify-api.js';
import { GpuBatchJob } from './constructs/gpu-batch-job.js';
import { ModelPackaging } from './constructs/model-packaging.js';
import { Monitoring } from './constructs/monitoring.js';
import { Storage } from './constructs/storage.js';
import { UploadPipeline } from './constructs/upload-pipeline.js';
import { UNTRAINED_MODEL_ID } from '../layers/paths.js';
import { applyNagSuppressions } from './nag-suppressions.js';
import { sessionEnvironment } from './session-sizing.js';

/** Props of {@link ResnetStack}. */
export interface ResnetStackProps extends StackProps {
  readonly config: ResnetConfig;
}

/** Powertools metrics namespace of every function. */
export const METRICS_NAMESPACE = 'ResnetServerless';

export class ResnetStack extends Stack {
  readonly config: ResnetConfig;
  readonly storage: Storage;
  readonly packaging: ModelPackaging;
  readonly tagger: ClassifierFunction;
  readonly classifyApi: ClassifierFunction;
  readonly worker: ClassifierFunction;
  readonly sweeperFunction: ClassifierFunction;
  readonly uploads: UploadPipeline;
  readonly api: ClassifyApi;
  readonly sweeper: BacklogSweeper;
  readonly inventory: BacklogInventory;
  readonly gpu?: GpuBatchJob;
  readonly monitoring: Monitoring;

  constructor(scope: Construct, id: string, props: ResnetStackProps) {
    super(scope, id, props);
    const c = (this.config = props.config);
    this.storage = new Storage(this, 'Storage', {
      bucketName: c.bucketName, uploadsPrefix: c.uploadsPrefix, resultsPrefix: c.resultsPrefix, uploadsExpirationDays: c.uploadsExpirationDays,
    });
    this.packaging = new ModelPackaging(this, 'Model', {
      modelId: c.modelId, modelSource: c.modelSource, modelDir: c.modelDir, modelForm: c.modelForm, int8Model: c.int8Model, architecture: c.architecture,
      functionBudgetMb: c.functionBudgetMb, needS3Copy: c.batch,
    });

    const shared = {
      // The bucket the functions read from: presigned uploads, `{"s3":...}` requests, the sweep.
      INPUT_BUCKET: this.storage.bucket.bucketName,
      RESULTS_BUCKET: this.storage.bucket.bucketName,
      RESULTS_PREFIX: c.resultsPrefix,
      UPLOADS_PREFIX: c.uploadsPrefix,
      TOP_K: String(c.topK),
      TAG_PARENTS: String(c.tagParents),
      MIN_CONFIDENCE: String(c.minConfidence),
      RESNET_MAX_PIXELS: String(c.maxPixels),
    };
    const fn = (id: string, entry: string, description: string, o: { memoryMb: number; timeoutSeconds: number; reserved?: number; classifies: boolean }): ClassifierFunction =>
      new ClassifierFunction(this, id, {
        entry, description, architecture: c.architecture, memoryMb: o.memoryMb, timeoutSeconds: o.timeoutSeconds,
        reservedConcurrency: o.reserved, logRetentionDays: c.logRetentionDays, packaging: o.classifies ? this.packaging : undefined,
        environment: o.classifies ? { ...shared, ...sessionEnvironment(o.memoryMb, c.ortThreads) } : shared,
        serviceName: entry.split('/')[1], metricsNamespace: METRICS_NAMESPACE,
      });
    const worker = { memoryMb: c.memoryMb, timeoutSeconds: c.timeoutSeconds, reserved: c.reservedConcurrency, classifies: true };
    this.tagger = fn('S3Tagger', 'functions/s3-tagger/handler.ts', 'Labels uploaded images: S3 tags and a result object', worker);
    this.worker = fn('SqsWorker', 'functions/sqs-worker/handler.ts', 'Labels objects fanned out by the sweeper', worker);
    this.classifyApi = fn('ClassifyApi', 'functions/classify-api/handler.ts', 'HTTP API: classify, presigned uploads, results',
      { memoryMb: c.apiMemoryMb, timeoutSeconds: c.apiTimeoutSeconds, reserved: c.apiReservedConcurrency, classifies: true });
    // Listing and planning only: small and short, no model.
    this.sweeperFunction = fn('Sweeper', 'functions/sweeper/handler.ts', 'Scheduled sweep for unlabelled uploads',
      { memoryMb: 512, timeoutSeconds: 300, classifies: false });
    // In S3 mode the classifying functions download the model at cold start; in layer mode the S3
    // copy (present when the batch path is on) is the batch job's alone.
    if (this.packaging.decision.mode === 's3') for (const f of [this.tagger, this.worker, this.classifyApi]) this.packaging.grantModelRead(f.fn);
    // The sweep looks for unlabelled objects where the S3 trigger watches.
    this.sweeperFunction.fn.addEnvironment('SWEEP_PREFIX', c.uploadsPrefix);

    this.uploads = new UploadPipeline(this, 'Uploads', {
      storage: this.storage, tagger: this.tagger, batchSize: c.sqsBatchSize, maxConcurrency: c.workerMaxConcurrency,
    });
    // `{"s3": {bucket, key}}` requests read an upload (no version, no tags); POST /uploads presigns a PUT.
    this.storage.grantUploads(this.classifyApi.fn, 'read');
    this.storage.grantUploads(this.classifyApi.fn, 'presign-put');
    this.storage.grantResults(this.classifyApi.fn, 'read');
    this.api = new ClassifyApi(this, 'Api', {
      handler: this.classifyApi, auth: c.apiAuth, jwtIssuer: c.jwtIssuer, jwtAudience: c.jwtAudience, corsOrigins: c.corsOrigins,
      rateLimit: c.apiRateLimit, burstLimit: c.apiBurstLimit, logRetentionDays: c.logRetentionDays,
    });
    if (c.batch) {
      this.gpu = new GpuBatchJob(this, 'Gpu', {
        storage: this.storage, packaging: this.packaging, instanceTypes: c.batchInstanceTypes, maxVcpus: c.batchMaxVcpus,
        onDemandMaxVcpus: c.batchOnDemandMaxVcpus, jobTimeoutMinutes: c.batchJobTimeoutMinutes, logRetentionDays: c.logRetentionDays,
        environment: { ...shared, POWERTOOLS_SERVICE_NAME: 'batch-worker', POWERTOOLS_METRICS_NAMESPACE: METRICS_NAMESPACE },
      });
    }
    this.inventory = new BacklogInventory(this, 'Inventory', { storage: this.storage });
    if (this.gpu) this.inventory.grantRead(this.gpu.jobRole);
    this.sweeper = new BacklogSweeper(this, 'Backlog', {
      storage: this.storage, sweeper: this.sweeperFunction, worker: this.worker, schedule: c.sweepSchedule,
      backlogThreshold: c.backlogThreshold, batchSize: c.sqsBatchSize, maxConcurrency: c.workerMaxConcurrency, gpu: this.gpu, inventory: this.inventory,
    });
    this.monitoring = new Monitoring(this, 'Monitoring', {
      functions: { S3Tagger: this.tagger, SqsWorker: this.worker, ClassifyApi: this.classifyApi, Sweeper: this.sweeperFunction },
      deadLetterQueues: {
        UploadEventsDlq: this.uploads.events.deadLetterQueue, WorkDlq: this.sweeper.work.deadLetterQueue, SweepFailures: this.sweeper.failures,
      },
      queues: { UploadEvents: this.uploads.events.queue, Work: this.sweeper.work.queue },
      api: this.api.api,
      alarmEmail: c.alarmEmail,
    });

    new CfnOutput(this, 'BucketName', { value: this.storage.bucket.bucketName });
    new CfnOutput(this, 'UploadsPrefix', { value: c.uploadsPrefix });
    // The model is named on every resource and in the outputs: an untrained stand-in must not pass for the real one.
    Tags.of(this).add('resnet:model', c.modelId);
    const untrained = c.modelId === UNTRAINED_MODEL_ID;
    if (untrained) Annotations.of(this).addWarningV2('resnet:untrained-model', `${UNTRAINED_MODEL_ID} is a generated, untrained ResNet-50 v2: its labels are meaningless. Fetch resnet50-v2 and synth again for real labels.`);
    new CfnOutput(this, 'ModelId', {
      value: c.modelId,
      description: untrained ? 'UNTRAINED generated ResNet-50 v2 (labels are meaningless): run `npx resnet fetch resnet50-v2` and deploy again' : 'Model the functions serve',
    });
    new CfnOutput(this, 'ModelPackaging', { value: this.packaging.decision.mode, description: this.packaging.decision.reason.slice(0, 1000) });
    if (this.gpu) new CfnOutput(this, 'BatchJobQueue', { value: this.gpu.jobQueue.jobQueueArn });
    applyNagSuppressions(this);
  }
}

/**
 * Reads the configuration from the app's context, adds the stack and the cdk-nag rule packs
 * (AwsSolutions, Serverless). Throws InvalidContextError before anything is built when the
 * context is invalid.
 * @param app the app; its context is the configuration.
 * @param opts.nag register the cdk-nag packs as synth-time validation. @default true
 */
export function buildResnetApp(app: App, opts: { nag?: boolean } = {}): ResnetStack {
  const config = loadConfig((k) => app.node.tryGetContext(k), Object.keys(app.node.getAllContext()));
  const stackName = (app.node.tryGetContext('stackName') as string | undefined) ?? 'ResnetServerless';
  const stack = new ResnetStack(app, stackName, {
    config,
    description: `ResNet image classification (${config.modelId}, ${config.architecture})`,
    env: { account: process.env.CDK_DEFAULT_ACCOUNT, region: process.env.CDK_DEFAULT_REGION },
  });
  // Any unacknowledged finding fails synth (CDK policy validation).
  if (opts.nag ?? true) Validations.of(app).addPlugins(new AwsSolutionsChecks(app, { verbose: true }), new ServerlessChecks(app, { verbose: true }));
  return stack;
}
