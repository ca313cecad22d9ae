/**
 * Works off what a sweep found. Keys are buffered up to the planner's threshold (5,000 by
 * default, a few hundred KB); a backlog that stays under it is enqueued in full for the SQS worker
 * (no per-run cap: 5,000 messages are 500 SendMessageBatch calls, seconds). Past the threshold the
 * buffer and every later key stream into a Batch manifest (labelling/backlog-manifest.ts), cut into
 * parts of `partObjects` keys, and one array job is submitted with a child per part. Memory stays
 * bounded by the threshold whatever the backlog.
 */
import type { S3Client } from '@aws-sdk/client-s3';

import type { ObjectJobMessage } from './events.js';
import { BacklogWriter, type BacklogManifest } from './backlog-manifest.js';
import { objectsPerChild, planBacklog, plannerSettings, type BacklogPlan, type PlannerOptions } from './planner.js';

/** Sends job messages to the worker queue; resolves with how many were accepted, throws when some could not be sent. */
export interface JobQueue {
  enqueue(jobs: readonly ObjectJobMessage[]): Promise<number>;
}

/** What the sweeper asks AWS Batch to run. */
export interface BatchSubmission {
  /** `s3://.../backlog.json`: the manifest of exactly the missing keys, for `resnet batch`. */
  input: string;
  model: string;
  plan: BacklogPlan;
  jobName: string;
}

/** Submits an AWS Batch job; returns its id. */
export interface BatchSubmitter {
  submit(req: BatchSubmission): Promise<{ jobId: string }>;
}

/** Where found keys go. */
export interface BacklogSinks {
  queue?: JobQueue;
  batch?: BatchSubmitter;
}

/** What the dispatch did. */
export interface DispatchReport {
  plan: BacklogPlan;
  /** Messages accepted by the queue. */
  enqueued: number;
  /** The manifest written for a Batch-sized backlog. */
  manifest?: { uri: string; objects: number; parts: number };
  /** Present when a Batch job was submitted, or describes the one that would be when no submitter is configured. */
  batch?: BatchSubmission & { jobId?: string };
}

/** Settings of a {@link BacklogDispatcher}. */
export interface DispatchOptions {
  bucket: string;
  model: string;
  resultsBucket?: string;
  resultsPrefix: string;
  planner?: PlannerOptions;
  /** Objects per manifest part. @default the planner's objects per child */
  partObjects?: number;
  now?: () => Date;
}

/** Collects a sweep's missing keys and sends them on (see the module comment). */
export class BacklogDispatcher {
  private buffer: string[] = [];
  private writer: BacklogWriter | undefined;
  private count = 0;
  private readonly threshold: number;
  private result: DispatchReport;

  constructor(private readonly s3: S3Client, private readonly o: DispatchOptions, private readonly sinks: BacklogSinks) {
    this.threshold = plannerSettings(o.planner).lambdaMaxObjects;
    this.result = { plan: planBacklog(0, o.planner), enqueued: 0 };
  }

  /** Takes one missing key. */
  async add(key: string): Promise<void> {
    this.count++;
    if (this.writer) {
      await this.writer.add(key);
      return;
    }
    this.buffer.push(key);
    if (this.buffer.length > this.threshold) {
      this.writer = new BacklogWriter(this.s3, {
        bucket: this.o.resultsBucket ?? this.o.bucket,
        resultsPrefix: this.o.resultsPrefix,
        sourceBucket: this.o.bucket,
        model: this.o.model,
        partObjects: this.o.partObjects ?? objectsPerChild(this.o.planner ?? {}),
        ...(this.o.now ? { now: this.o.now() } : {}),
      });
      const spilled = this.buffer;
      this.buffer = [];
      for (const k of spilled) await this.writer.add(k);
    }
  }

  /** Enqueues the buffered keys, or closes the manifest and submits the Batch job. */
  async finish(): Promise<DispatchReport> {
    const plan = planBacklog(this.count, this.o.planner ?? {});
    if (!this.writer) {
      if (this.buffer.length > 0 && this.sinks.queue === undefined) throw new Error('QUEUE_URL is not configured; the sweeper cannot fan out.');
      const jobs = this.buffer.map((key): ObjectJobMessage => ({ bucket: this.o.bucket, key }));
      this.buffer = [];
      this.result = { plan, enqueued: jobs.length > 0 ? await this.sinks.queue!.enqueue(jobs) : 0 };
      return this.result;
    }
    const manifest: BacklogManifest = await this.writer.close();
    const parts = manifest.document.parts.length;
    // One child per part: the planner sized the parts, so its array size is the part count
    // (the same number unless partObjects was set by hand).
    const sized: BacklogPlan = parts === plan.arraySize ? plan : { ...plan, arraySize: parts, reason: `${plan.reason} Array of ${parts}: one child per manifest part.` };
    const stamp = (this.o.now?.() ?? new Date()).toISOString().replace(/[^0-9]/g, '').slice(0, 14);
    const submission: BatchSubmission = { input: manifest.uri, model: this.o.model, plan: sized, jobName: `resnet-backlog-${stamp}` };
    this.result = {
      plan: sized,
      enqueued: 0,
      manifest: { uri: manifest.uri, objects: manifest.document.objects, parts },
      batch: this.sinks.batch ? { ...submission, ...(await this.sinks.batch.submit(submission)) } : submission,
    };
    return this.result;
  }

  /** The dispatch's outcome (after {@link finish}). */
  report(): DispatchReport {
    return this.result;
  }
}
