/**
 * The app's configuration, read from CDK context (`-c key=value` or cdk.json "context").
 * Every key has a documented default; a bad value fails `cdk synth` with an
 * {@link InvalidContextError} naming the key and the accepted values. Values given on the
 * command line arrive as strings, so numbers, booleans and lists are parsed from strings too.
 */
import { MODEL_FORMS, type ModelForm } from '../layers/model-form.js';
import { InvalidContextError } from './errors.js';

/** CPU architecture of the Lambda functions and of the onnxruntime layer. */
export type Architecture = 'x86_64' | 'arm64';
/** Where the model comes from at run time: a Lambda layer, an S3 object loaded to /tmp, or decided by size. */
export type ModelSource = 'auto' | 'layer' | 's3';
/** HTTP API authorisation; 'none' only with the explicit `publicApi=true` (open demo). */
export type ApiAuth = 'iam' | 'jwt' | 'cognito' | 'none';

/** Resolved configuration; see {@link CONTEXT_DEFAULTS} for defaults and README for the table. */
export interface ResnetConfig {
  /** Zoo model id (`resnet50-v2`) or a custom name when `modelDir` is given. @default 'resnet50-v2' */
  readonly modelId: string;
  /** @default 'auto' */
  readonly modelSource: ModelSource;
  /** Built model-layer folder (holds `model/model.onnx`, `model/labels.txt`). @default layers/build/model-<modelId> */
  readonly modelDir?: string;
  /**
   * How the model layer ships the model (layers/model-form.ts): `optimized` float32 in ORT format,
   * `int8` (the model `resnet quantize` made, given as `int8Model`), or `original`. @default 'optimized'
   */
  readonly modelForm: ModelForm;
  /** The int8 model file made by `resnet quantize`; required with modelForm `int8`. */
  readonly int8Model?: string;
  /** @default 'x86_64' */
  readonly architecture: Architecture;
  /** Memory of the s3-tagger and sqs-worker functions, MB (vCPU share grows with it). @default 3008 */
  readonly memoryMb: number;
  /** Memory of the classify-api function, MB. @default memoryMb */
  readonly apiMemoryMb: number;
  /**
   * onnxruntime intra-op threads of every classifying function (ORT_THREADS).
   * @default undefined: each function's vCPU share by its memory, see infra/session-sizing.ts
   */
  readonly ortThreads?: number;
  /** Timeout of the s3-tagger and sqs-worker, seconds; the queues' visibility is 6x this. @default 60 */
  readonly timeoutSeconds: number;
  /** Timeout of the classify-api function, seconds (API Gateway stops waiting at 30 s). @default 29 */
  readonly apiTimeoutSeconds: number;
  /** Reserved concurrency of the s3-tagger and sqs-worker; undefined = unreserved. @default undefined */
  readonly reservedConcurrency?: number;
  /** Reserved concurrency of the classify-api; undefined = unreserved. @default undefined */
  readonly apiReservedConcurrency?: number;
  /** Most concurrent Lambda invocations one SQS event source starts (2..1000). @default 10 */
  readonly workerMaxConcurrency: number;
  /** SQS messages per invocation. @default 5 */
  readonly sqsBatchSize: number;
  /** CloudWatch Logs retention, days (one of CloudWatch's allowed values). @default 30 */
  readonly logRetentionDays: number;
  /** Use this existing bucket instead of creating one. @default undefined (create a bucket) */
  readonly bucketName?: string;
  /** Key prefix the S3 trigger watches. @default 'uploads/' */
  readonly uploadsPrefix: string;
  /** Key prefix of result objects; must not overlap the uploads prefix. @default 'resnet-results/' */
  readonly resultsPrefix: string;
  /** Days after which objects under the uploads prefix expire; 0 keeps them. @default 30 */
  readonly uploadsExpirationDays: number;
  /** Labels per image (S3 allows 10 tags per object). @default 5 */
  readonly topK: number;
  /** Parent tags per object (`resnet:parent1`…, TAG_PARENTS). @default 2 */
  readonly tagParents: number;
  /** Confidence, 0–100, a parent needs to be stored and tagged (MIN_CONFIDENCE). @default 50 */
  readonly minConfidence: number;
  /** Decode limit in pixels (RESNET_MAX_PIXELS). @default 100000000 */
  readonly maxPixels: number;
  /** @default 'jwt' when jwtIssuer is set, else 'iam'; 'none' when publicApi is true */
  readonly apiAuth: ApiAuth;
  /** Open the HTTP API to anyone on the internet (no authoriser; throttling still applies). @default false */
  readonly publicApi: boolean;
  /** JWT issuer URL (https), required when apiAuth is 'jwt'. */
  readonly jwtIssuer?: string;
  /** JWT audiences, required when apiAuth is 'jwt'. */
  readonly jwtAudience?: readonly string[];
  /** Allowed CORS origins; undefined = no CORS configuration. @default undefined */
  readonly corsOrigins?: readonly string[];
  /** API steady-state rate limit, requests/s. @default 50 */
  readonly apiRateLimit: number;
  /** API burst limit, requests. @default 100 */
  readonly apiBurstLimit: number;
  /** EventBridge Scheduler expression for the backlog sweep. @default 'rate(1 hour)' */
  readonly sweepSchedule: string;
  /** Unlabelled objects above which the sweeper submits a GPU batch job instead of SQS fan-out (labelling/planner.ts). @default 5000 */
  readonly backlogThreshold: number;
  /** Deploy the AWS Batch GPU path. @default true */
  readonly batch: boolean;
  /** GPU instance types of the Batch compute environments (g5/g6/g6e families). @default g5.xlarge,g5.2xlarge,g6.xlarge,g6.2xlarge */
  readonly batchInstanceTypes: readonly string[];
  /** Most vCPUs of the Spot compute environment. @default 64 */
  readonly batchMaxVcpus: number;
  /** Most vCPUs of the on-demand fallback compute environment; 0 = Spot only. @default 16 */
  readonly batchOnDemandMaxVcpus: number;
  /** Batch job attempt timeout, minutes. @default 240 */
  readonly batchJobTimeoutMinutes: number;
  /** E-mail address subscribed to the alarm topic. @default undefined (no subscription) */
  readonly alarmEmail?: string;
  /** Bytes reserved for a function's own bundled code in the packaging decision, MiB (a budget: today's bundles are about 4 MiB). @default 20 */
  readonly functionBudgetMb: number;
}

/** The defaults, as documented in the README's context table. */
export const CONTEXT_DEFAULTS = {
  modelId: 'resnet50-v2',
  modelSource: 'auto',
  modelForm: 'optimized',
  architecture: 'x86_64',
  memoryMb: 3008,
  timeoutSeconds: 60,
  apiTimeoutSeconds: 29,
  workerMaxConcurrency: 10,
  sqsBatchSize: 5,
  logRetentionDays: 30,
  uploadsPrefix: 'uploads/',
  resultsPrefix: 'resnet-results/',
  uploadsExpirationDays: 30,
  topK: 5,
  tagParents: 2,
  minConfidence: 50,
  maxPixels: 100_000_000,
  apiAuth: 'iam',
  publicApi: false,
  apiRateLimit: 50,
  apiBurstLimit: 100,
  sweepSchedule: 'rate(1 hour)',
  backlogThreshold: 5_000,
  batch: true,
  batchInstanceTypes: ['g5.xlarge', 'g5.2xlarge', 'g6.xlarge', 'g6.2xlarge'],
  batchMaxVcpus: 64,
  batchOnDemandMaxVcpus: 16,
  batchJobTimeoutMinutes: 240,
  functionBudgetMb: 20,
} as const;

/** Every context key the app reads; anything else without a namespace (`@aws-cdk/...`, `aws:...`) is a typo. */
export const CONTEXT_KEYS = [
  'modelId', 'modelSource', 'modelDir', 'modelForm', 'int8Model', 'architecture', 'memoryMb', 'apiMemoryMb', 'ortThreads', 'timeoutSeconds',
  'apiTimeoutSeconds', 'reservedConcurrency', 'apiReservedConcurrency', 'workerMaxConcurrency', 'sqsBatchSize',
  'logRetentionDays', 'bucketName', 'uploadsPrefix', 'resultsPrefix', 'uploadsExpirationDays', 'topK', 'tagParents', 'minConfidence', 'maxPixels',
  'apiAuth', 'publicApi', 'jwtIssuer', 'jwtAudience', 'corsOrigins', 'apiRateLimit', 'apiBurstLimit', 'sweepSchedule',
  'backlogThreshold', 'batch', 'batchInstanceTypes', 'batchMaxVcpus', 'batchOnDemandMaxVcpus',
  'batchJobTimeoutMinutes', 'alarmEmail', 'functionBudgetMb', 'stackName',
] as const;

/** CloudWatch Logs' allowed retention periods, days. */
const RETENTION_DAYS = [1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653];
const ZOO_ID = /^resnet(18|34|50|101|152)-v[12]$/;
const CUSTOM_ID = /^[a-z0-9][a-z0-9._-]{0,62}$/;
const BUCKET_NAME = /^(?!xn--)(?!.*-s3alias$)[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;
const PREFIX = /^[A-Za-z0-9!_.*'()-]+(\/[A-Za-z0-9!_.*'()-]+)*\/$/;
const GPU_INSTANCE = /^(g5|g6|g6e)\.(xlarge|2xlarge|4xlarge|8xlarge|12xlarge|16xlarge|24xlarge|48xlarge)$/;
const SCHEDULE = /^(rate\(\d+ (minute|minutes|hour|hours|day|days)\)|cron\([^()]+\))$/;
const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;

/** Reads one raw context value; `undefined` when unset. */
export type ContextReader = (key: string) => unknown;

/**
 * Resolves and validates the configuration.
 * @param read returns the raw context value for a key (`node.tryGetContext`).
 * @param allKeys every context key present, used to reject misspelt keys; omit to skip that check.
 * @throws InvalidContextError naming the first bad key.
 */
export function loadConfig(read: ContextReader, allKeys?: readonly string[]): ResnetConfig {
  if (allKeys) rejectUnknownKeys(allKeys);
  const p = new Parser(read);

  const modelDir = p.optionalString('modelDir');
  const modelId = p.string('modelId', CONTEXT_DEFAULTS.modelId);
  if (!ZOO_ID.test(modelId) && !(modelDir && CUSTOM_ID.test(modelId))) {
    throw new InvalidContextError('modelId', modelId, modelDir
      ? 'a lower-case name of letters, digits, ".", "_" or "-" (at most 63 characters)'
      : 'a zoo id resnet{18,34,50,101,152}-v{1,2} (or any safe name together with -c modelDir=<built layer folder>)');
  }
  const modelForm = p.oneOf('modelForm', CONTEXT_DEFAULTS.modelForm as ModelForm, MODEL_FORMS);
  const int8Model = p.optionalString('int8Model');
  if (modelForm === 'int8' && !int8Model) {
    throw new InvalidContextError('int8Model', int8Model, 'the int8 .onnx file that `npx resnet quantize --out <file>` wrote, when modelForm is "int8"');
  }
  if (modelForm !== 'int8' && int8Model) throw new InvalidContextError('modelForm', modelForm, '"int8" when int8Model is given (or drop int8Model)');
  const memoryMb = p.int('memoryMb', CONTEXT_DEFAULTS.memoryMb, 128, 10240, 'MB');
  const timeoutSeconds = p.int('timeoutSeconds', CONTEXT_DEFAULTS.timeoutSeconds, 1, 900, 'seconds');
  const uploadsPrefix = p.matching('uploadsPrefix', CONTEXT_DEFAULTS.uploadsPrefix, PREFIX, 'a non-empty key prefix ending in "/" (e.g. "uploads/")');
  const resultsPrefix = p.matching('resultsPrefix', CONTEXT_DEFAULTS.resultsPrefix, PREFIX, 'a non-empty key prefix ending in "/" (e.g. "resnet-results/")');
  if (uploadsPrefix.startsWith(resultsPrefix) || resultsPrefix.startsWith(uploadsPrefix)) {
    // Results written under the watched prefix would trigger the tagger on its own output.
    throw new InvalidContextError('resultsPrefix', resultsPrefix,
      `a prefix that neither contains nor is contained in uploadsPrefix "${uploadsPrefix}" (otherwise results would re-trigger the S3 trigger)`);
  }
  const jwtIssuer = p.optionalString('jwtIssuer');
  const jwtAudience = p.optionalList('jwtAudience');
  const publicApi = p.bool('publicApi', CONTEXT_DEFAULTS.publicApi);
  const chosenAuth = p.optionalString('apiAuth');
  if (publicApi && chosenAuth !== undefined) {
    throw new InvalidContextError('apiAuth', chosenAuth, 'no apiAuth together with publicApi=true (a public API has no authoriser); drop one of the two');
  }
  // A configured issuer means a JWT authoriser unless another mode is named.
  const apiAuth: ApiAuth = publicApi ? 'none' : p.oneOf('apiAuth', jwtIssuer ? 'jwt' : CONTEXT_DEFAULTS.apiAuth, ['iam', 'jwt', 'cognito'] as const);
  if (apiAuth === 'jwt') {
    if (!jwtIssuer || !/^https:\/\/\S+$/.test(jwtIssuer)) throw new InvalidContextError('jwtIssuer', jwtIssuer, 'an https:// issuer URL when apiAuth is "jwt"');
    if (!jwtAudience || jwtAudience.length === 0) throw new InvalidContextError('jwtAudience', jwtAudience, 'one or more audiences (comma-separated) when apiAuth is "jwt"');
  }
  const corsOrigins = p.optionalList('corsOrigins');
  for (const origin of corsOrigins ?? []) {
    if (origin !== '*' && !/^https?:\/\/[^/\s]+$/.test(origin)) {
      throw new InvalidContextError('corsOrigins', origin, 'origins like https://app.example.com (scheme and host, no path), comma-separated, or "*"');
    }
  }
  const apiRateLimit = p.int('apiRateLimit', CONTEXT_DEFAULTS.apiRateLimit, 1, 10_000, 'requests per second');
  const apiBurstLimit = p.int('apiBurstLimit', CONTEXT_DEFAULTS.apiBurstLimit, 1, 5_000, 'requests');
  const batchInstanceTypes = p.optionalList('batchInstanceTypes') ?? [...CONTEXT_DEFAULTS.batchInstanceTypes];
  for (const t of batchInstanceTypes) {
    if (!GPU_INSTANCE.test(t)) throw new InvalidContextError('batchInstanceTypes', t, 'GPU instance types of the g5, g6 or g6e families (e.g. g5.xlarge), comma-separated');
  }
  if (batchInstanceTypes.length === 0) throw new InvalidContextError('batchInstanceTypes', batchInstanceTypes, 'at least one GPU instance type');
  const batchMaxVcpus = p.int('batchMaxVcpus', CONTEXT_DEFAULTS.batchMaxVcpus, 4, 10_000, 'vCPUs');
  const alarmEmail = p.optionalString('alarmEmail');
  if (alarmEmail !== undefined && !EMAIL.test(alarmEmail)) throw new InvalidContextError('alarmEmail', alarmEmail, 'an e-mail address');
  const bucketName = p.optionalString('bucketName');
  if (bucketName !== undefined && (!BUCKET_NAME.test(bucketName) || bucketName.includes('..'))) {
    throw new InvalidContextError('bucketName', bucketName, 'an existing S3 bucket name (3-63 characters: a-z, 0-9, "." and "-")');
  }

  return {
    modelId,
    modelSource: p.oneOf('modelSource', CONTEXT_DEFAULTS.modelSource, ['auto', 'layer', 's3'] as const),
    modelDir,
    modelForm,
    int8Model,
    architecture: p.oneOf('architecture', CONTEXT_DEFAULTS.architecture, ['x86_64', 'arm64'] as const),
    memoryMb,
    apiMemoryMb: p.int('apiMemoryMb', memoryMb, 128, 10240, 'MB'),
    ortThreads: p.optionalInt('ortThreads', 1, 6, 'threads'),
    timeoutSeconds,
    apiTimeoutSeconds: p.int('apiTimeoutSeconds', CONTEXT_DEFAULTS.apiTimeoutSeconds, 1, 29, 'seconds (API Gateway gives up after 30 s)'),
    reservedConcurrency: p.optionalInt('reservedConcurrency', 1, 10_000),
    apiReservedConcurrency: p.optionalInt('apiReservedConcurrency', 1, 10_000),
    workerMaxConcurrency: p.int('workerMaxConcurrency', CONTEXT_DEFAULTS.workerMaxConcurrency, 2, 1000, 'concurrent invocations (SQS event source limit)'),
    sqsBatchSize: p.int('sqsBatchSize', CONTEXT_DEFAULTS.sqsBatchSize, 1, 10, 'messages'),
    logRetentionDays: p.oneOfNumbers('logRetentionDays', CONTEXT_DEFAULTS.logRetentionDays, RETENTION_DAYS),
    bucketName,
    uploadsPrefix,
    resultsPrefix,
    uploadsExpirationDays: p.int('uploadsExpirationDays', CONTEXT_DEFAULTS.uploadsExpirationDays, 0, 36_500, 'days (0 keeps uploads)'),
    topK: p.int('topK', CONTEXT_DEFAULTS.topK, 1, 10, 'labels (S3 allows at most 10 tags per object)'),
    tagParents: p.int('tagParents', CONTEXT_DEFAULTS.tagParents, 0, 9, 'parent tags (S3 allows at most 10 tags per object)'),
    minConfidence: p.int('minConfidence', CONTEXT_DEFAULTS.minConfidence, 0, 100, 'percent'),
    maxPixels: p.int('maxPixels', CONTEXT_DEFAULTS.maxPixels, 1, 1_000_000_000, 'pixels'),
    apiAuth,
    publicApi,
    jwtIssuer,
    jwtAudience,
    corsOrigins,
    apiRateLimit,
    apiBurstLimit,
    sweepSchedule: p.matching('sweepSchedule', CONTEXT_DEFAULTS.sweepSchedule, SCHEDULE, 'an EventBridge Scheduler expression such as "rate(1 hour)" or "cron(0 3 * * ? *)"'),
    backlogThreshold: p.int('backlogThreshold', CONTEXT_DEFAULTS.backlogThreshold, 1, 1_000_000_000, 'objects'),
    batch: p.bool('batch', CONTEXT_DEFAULTS.batch),
    batchInstanceTypes,
    batchMaxVcpus,
    batchOnDemandMaxVcpus: p.int('batchOnDemandMaxVcpus', CONTEXT_DEFAULTS.batchOnDemandMaxVcpus, 0, 10_000, 'vCPUs (0 = Spot only)'),
    batchJobTimeoutMinutes: p.int('batchJobTimeoutMinutes', CONTEXT_DEFAULTS.batchJobTimeoutMinutes, 5, 14 * 24 * 60, 'minutes'),
    alarmEmail,
    functionBudgetMb: p.int('functionBudgetMb', CONTEXT_DEFAULTS.functionBudgetMb, 1, 200, 'MiB'),
  };
}

function rejectUnknownKeys(keys: readonly string[]): void {
  const known = new Set<string>(CONTEXT_KEYS);
  for (const key of keys) {
    // Namespaced keys belong to the CDK itself (feature flags, aws:cdk:*, cdk-nag settings).
    if (known.has(key) || key.includes(':') || key.startsWith('@') || key.startsWith('cdk') || key === 'acknowledged-issue-numbers') continue;
    const near = CONTEXT_KEYS.find((k) => k.toLowerCase() === key.toLowerCase() || editDistance(k, key) <= 2);
    throw new InvalidContextError(key, '(unknown key)', near ? `a known key; did you mean "${near}"?` : `one of the known keys: ${CONTEXT_KEYS.join(', ')}`);
  }
}

function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let diag = row[0];
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const next = Math.min(row[j] + 1, row[j - 1] + 1, diag + (a[i - 1] === b[j - 1] ? 0 : 1));
      diag = row[j];
      row[j] = next;
    }
  }
  return row[b.length];
}

/** Parses context values that may arrive typed (cdk.json) or as strings (`-c`). */
class Parser {
  constructor(private readonly read: ContextReader) {}

  private raw(key: string): unknown {
    const v = this.read(key);
    return v === '' ? undefined : v;
  }

  optionalString(key: string): string | undefined {
    const v = this.raw(key);
    if (v === undefined || v === null) return undefined;
    if (typeof v !== 'string') throw new InvalidContextError(key, v, 'a string');
    return v.trim();
  }

  string(key: string, dflt: string): string {
    return this.optionalString(key) ?? dflt;
  }

  matching(key: string, dflt: string, re: RegExp, expected: string): string {
    const v = this.string(key, dflt);
    if (!re.test(v)) throw new InvalidContextError(key, v, expected);
    return v;
  }

  oneOf<T extends string>(key: string, dflt: T, allowed: readonly T[]): T {
    const v = this.string(key, dflt);
    if (!(allowed as readonly string[]).includes(v)) throw new InvalidContextError(key, v, `one of ${allowed.map((a) => `"${a}"`).join(', ')}`);
    return v as T;
  }

  optionalInt(key: string, min: number, max: number, unit = ''): number | undefined {
    const v = this.raw(key);
    if (v === undefined || v === null) return undefined;
    const n = typeof v === 'number' ? v : typeof v === 'string' && /^-?\d+$/.test(v.trim()) ? Number(v) : NaN;
    if (!Number.isInteger(n) || n < min || n > max) throw new InvalidContextError(key, v, `an integer from ${min} to ${max}${unit ? ` ${unit}` : ''}`);
    return n;
  }

  int(key: string, dflt: number, min: number, max: number, unit: string): number {
    return this.optionalInt(key, min, max, unit) ?? dflt;
  }

  oneOfNumbers(key: string, dflt: number, allowed: readonly number[]): number {
    const n = this.int(key, dflt, Math.min(...allowed), Math.max(...allowed), '');
    if (!allowed.includes(n)) throw new InvalidContextError(key, this.raw(key), `one of CloudWatch's retention periods: ${allowed.join(', ')} (days)`);
    return n;
  }

  bool(key: string, dflt: boolean): boolean {
    const v = this.raw(key);
    if (v === undefined || v === null) return dflt;
    if (v === true || v === 'true') return true;
    if (v === false || v === 'false') return false;
    throw new InvalidContextError(key, v, 'true or false');
  }

  optionalList(key: string): string[] | undefined {
    const v = this.raw(key);
    if (v === undefined || v === null) return undefined;
    const items = Array.isArray(v) ? v : typeof v === 'string' ? v.split(',') : null;
    if (!items || items.some((i) => typeof i !== 'string')) throw new InvalidContextError(key, v, 'a comma-separated list or a JSON array of strings');
    return (items as string[]).map((i) => i.trim()).filter((i) => i.length > 0);
  }
}
