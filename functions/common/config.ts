/**
 * Runtime configuration of the Lambda functions, read from the environment once per container
 * (see TEAM.md "Runtime configuration"). Invalid values fail fast with a message naming the variable.
 */
import { InvalidArgumentError } from '../../core/errors.js';
import { DEFAULT_MAX_BYTES, DEFAULT_RESULTS_PREFIX } from '../../labelling/label-object.js';
import { parentSettingsFromEnv } from '../../labelling/tags.js';

/** Model id used when `MODEL_ID` is not set. */
export const DEFAULT_MODEL_ID = 'resnet50-v2';

/** Parsed function settings. */
export interface FunctionConfig {
  /** Bucket for result objects; undefined = the source object's bucket (`RESULTS_BUCKET`). */
  resultsBucket: string | undefined;
  /** Key prefix of result objects (`RESULTS_PREFIX`). @default 'resnet-results/' */
  resultsPrefix: string;
  /** Key prefix of presigned uploads (`UPLOADS_PREFIX`). @default 'uploads/' */
  uploadsPrefix: string;
  /** Bucket that receives uploads and that `{"s3":...}` requests may read (`INPUT_BUCKET`). */
  inputBucket: string | undefined;
  /** Labels per image (`TOP_K`). @default 5 */
  topK: number;
  /** Largest object the tagger downloads, in bytes (`MAX_OBJECT_BYTES`). @default 50 MiB */
  maxObjectBytes: number;
  /** Largest decoded request body of the API, in bytes (`MAX_BODY_BYTES`). @default 6,000,000 (Lambda's synchronous payload limit is 6 MB including the event envelope) */
  maxBodyBytes: number;
  /** Lifetime of a presigned upload's policy in seconds (`UPLOAD_URL_TTL`); S3 checks it when the upload starts. @default 300 */
  uploadUrlTtl: number;
  /** SQS queue for the sweeper's fan-out (`QUEUE_URL`). */
  queueUrl: string | undefined;
  /** Source keys listed per sweep at most; the next sweep continues after the last (`SWEEP_MAX_LIST`). @default 1000000 */
  sweepMaxList: number;
  /** Seconds a sweep lists at most before it dispatches what it found and saves its cursor (`SWEEP_MAX_SECONDS`). @default 180 */
  sweepMaxSeconds: number;
  /** Prefix of source objects the sweeper scans (`SWEEP_PREFIX`). @default '' (whole bucket) */
  sweepPrefix: string;
  /** Parent tags per object (`TAG_PARENTS`, context `tagParents`). @default 2 */
  tagParents: number;
  /** Confidence, 0–100, a parent needs to be stored and tagged (`MIN_CONFIDENCE`, context `minConfidence`). @default 50 */
  minConfidence: number;
}

function int(env: NodeJS.ProcessEnv, name: string, dflt: number, min = 1): number {
  const v = env[name];
  if (v === undefined || v === '') return dflt;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min) throw new InvalidArgumentError(`${name} must be a whole number >= ${min}, got "${v}".`);
  return n;
}

function str(env: NodeJS.ProcessEnv, name: string): string | undefined {
  const v = env[name];
  return v === undefined || v === '' ? undefined : v;
}

/** Reads {@link FunctionConfig} from `env`. @throws InvalidArgumentError naming the bad variable */
export function readConfig(env: NodeJS.ProcessEnv = process.env): FunctionConfig {
  return {
    resultsBucket: str(env, 'RESULTS_BUCKET'),
    resultsPrefix: env.RESULTS_PREFIX ?? DEFAULT_RESULTS_PREFIX,
    uploadsPrefix: env.UPLOADS_PREFIX ?? 'uploads/',
    inputBucket: str(env, 'INPUT_BUCKET'),
    topK: int(env, 'TOP_K', 5),
    maxObjectBytes: int(env, 'MAX_OBJECT_BYTES', DEFAULT_MAX_BYTES),
    maxBodyBytes: int(env, 'MAX_BODY_BYTES', 6_000_000),
    uploadUrlTtl: int(env, 'UPLOAD_URL_TTL', 300),
    queueUrl: str(env, 'QUEUE_URL'),
    sweepMaxList: int(env, 'SWEEP_MAX_LIST', 1_000_000),
    sweepMaxSeconds: int(env, 'SWEEP_MAX_SECONDS', 180),
    sweepPrefix: env.SWEEP_PREFIX ?? '',
    ...parentSettingsFromEnv(env),
  };
}

/**
 * Whether a key is one of our own outputs, which must never be labelled (recursion guard in
 * code, in addition to the notification's prefix filter): anything under the results prefix.
 */
export function isOwnOutput(key: string, cfg: Pick<FunctionConfig, 'resultsPrefix'>): boolean {
  return cfg.resultsPrefix !== '' && key.startsWith(cfg.resultsPrefix);
}
