/**
 * Chooses how to work off a backlog of unlabelled images: Lambda fan-out (one SQS message
 * per object) while it is small, an AWS Batch array job on GPU instances once it is big,
 * sized so the job finishes in about a target run time. Pure: the scheduled sweeper counts
 * the backlog and acts on the plan; `resnet batch --dry-run` prints it.
 */
import { InvalidArgumentError } from '../core/errors.js';

/** Knobs of {@link planBacklog}. */
export interface PlannerOptions {
  /** Largest backlog sent to Lambda fan-out (env `BACKLOG_THRESHOLD`). @default 5000 objects */
  lambdaMaxObjects?: number;
  /** Throughput of one Batch array child, end to end, in images per second. @default 300 (one GPU, ResNet-50) */
  imagesPerSecondPerJob?: number;
  /** Wanted wall time of the whole array job, in seconds. @default 3600 */
  targetRunSeconds?: number;
  /** Largest array size to submit (AWS Batch allows 2..10000). @default 10000 */
  maxArraySize?: number;
  /** Fixed start-up cost of one child (image pull, model load), in seconds. @default 120 */
  startupSeconds?: number;
}

/** The decision for one backlog. */
export interface BacklogPlan {
  /** `lambda`: fan out to the SQS worker; `batch`: submit an AWS Batch job. */
  readonly mode: 'lambda' | 'batch';
  /** Array size: 0 for `lambda`; 1 means a single (non-array) job, since AWS array jobs need 2..10000 children. */
  readonly arraySize: number;
  /** One sentence a person can read in a log or a dry run. */
  readonly reason: string;
  /** Objects in the backlog. */
  readonly count: number;
  /** Expected wall time of the Batch job in seconds (0 for `lambda`). */
  readonly estimatedSeconds: number;
}

const DEFAULTS: Required<PlannerOptions> = {
  lambdaMaxObjects: 5000,
  imagesPerSecondPerJob: 300,
  targetRunSeconds: 3600,
  maxArraySize: 10_000,
  startupSeconds: 120,
};

function positive(name: string, v: number, allowZero = false): number {
  if (!Number.isFinite(v) || v < 0 || (!allowZero && v === 0)) throw new InvalidArgumentError(`planner: ${name} must be a ${allowZero ? 'non-negative' : 'positive'} number, got ${v}.`);
  return v;
}

/**
 * Plans the work for `count` unlabelled objects.
 * @param count - objects in the backlog (>= 0)
 * @throws InvalidArgumentError for a negative count or a non-positive option
 */
export function planBacklog(count: number, opts: PlannerOptions = {}): BacklogPlan {
  if (!Number.isInteger(count) || count < 0) throw new InvalidArgumentError(`planner: count must be a whole number >= 0, got ${count}.`);
  const o = plannerSettings(opts);
  if (count === 0) return { mode: 'lambda', arraySize: 0, count, estimatedSeconds: 0, reason: 'The backlog is empty; nothing to do.' };
  if (count <= o.lambdaMaxObjects) {
    return {
      mode: 'lambda',
      arraySize: 0,
      count,
      estimatedSeconds: 0,
      reason: `${count} objects <= threshold ${o.lambdaMaxObjects}: fan out to Lambda through SQS.`,
    };
  }
  const perChild = objectsPerChild(o);
  const wanted = Math.ceil(count / perChild);
  const arraySize = Math.min(Math.floor(o.maxArraySize), Math.max(1, wanted));
  const estimatedSeconds = Math.round(o.startupSeconds + count / arraySize / o.imagesPerSecondPerJob);
  const capped = wanted > arraySize ? ` (capped at ${arraySize}; wanted ${wanted})` : '';
  return {
    mode: 'batch',
    arraySize,
    count,
    estimatedSeconds,
    reason:
      `${count} objects > threshold ${o.lambdaMaxObjects}: AWS Batch ${arraySize === 1 ? 'single job' : `array of ${arraySize}`}${capped} ` +
      `at ${o.imagesPerSecondPerJob} img/s per child, about ${formatDuration(estimatedSeconds)} (target ${formatDuration(o.targetRunSeconds)}).`,
  };
}

/**
 * The planner's options with their defaults filled in.
 * @throws InvalidArgumentError for a non-positive option
 */
export function plannerSettings(opts: PlannerOptions = {}): Required<PlannerOptions> {
  const o = { ...DEFAULTS, ...stripUndefined(opts) };
  positive('lambdaMaxObjects', o.lambdaMaxObjects, true);
  positive('imagesPerSecondPerJob', o.imagesPerSecondPerJob);
  positive('targetRunSeconds', o.targetRunSeconds);
  positive('maxArraySize', o.maxArraySize);
  positive('startupSeconds', o.startupSeconds, true);
  return o;
}

/**
 * Objects one Batch array child takes in the target run time: its throughput times the target
 * less the start-up cost (a target shorter than that still gets one second of work).
 * 300 img/s x (3,600 - 120) s = 1,044,000 with the defaults.
 */
export function objectsPerChild(opts: PlannerOptions = {}): number {
  const o = plannerSettings(opts);
  return Math.max(1, Math.floor(o.imagesPerSecondPerJob * Math.max(1, o.targetRunSeconds - o.startupSeconds)));
}

/** Planner options from the shared runtime environment (`BACKLOG_THRESHOLD`, `BATCH_IMAGES_PER_SECOND`, `BATCH_TARGET_SECONDS`). */
export function plannerOptionsFromEnv(env: NodeJS.ProcessEnv = process.env): PlannerOptions {
  const num = (name: string): number | undefined => {
    const v = env[name];
    if (v === undefined || v === '') return undefined;
    const n = Number(v);
    if (!Number.isFinite(n)) throw new InvalidArgumentError(`${name} must be a number, got "${v}".`);
    return n;
  };
  return stripUndefined({
    lambdaMaxObjects: num('BACKLOG_THRESHOLD'),
    imagesPerSecondPerJob: num('BATCH_IMAGES_PER_SECOND'),
    targetRunSeconds: num('BATCH_TARGET_SECONDS'),
  });
}

/** A plan as printed by a dry run: one `key: value` per line. */
export function formatPlan(plan: BacklogPlan): string {
  return [
    `backlog:   ${plan.count} objects`,
    `mode:      ${plan.mode}`,
    `arraySize: ${plan.arraySize}`,
    ...(plan.mode === 'batch' ? [`estimate:  ${formatDuration(plan.estimatedSeconds)}`] : []),
    `reason:    ${plan.reason}`,
  ].join('\n');
}

function formatDuration(s: number): string {
  if (s < 120) return `${Math.round(s)} s`;
  if (s < 7200) return `${Math.round(s / 60)} min`;
  return `${(s / 3600).toFixed(1)} h`;
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
