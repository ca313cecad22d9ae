/**
 * Works off what a sweep found. Keys are buffered up to the planner's threshold (5,000 by
 * default, a few hundred KB); a backlog that stays under it is enqueued in full for the SQS worker
 * (no per-run cap: 5,000 messages are 500 SendMessageBatch calls, seconds). Past the threshold the
 * buffer and every later key stream into a Batch manifest (labelling/backlog-manifest.ts), cut into
 * parts of `partObjects` keys, and one array job is submitted with a child per part. Memory stays
 * bounded by the threshold whatever the backlog.
 *
 * With an S3 Inventory configured (`inventory`), a backlog past the threshold goes to Batch as the
 * newest inventory report instead: one array job over the whole report, a child per report file
 * (at most the planner's array size), each child skipping what already has a result. The keys the
 * sweep found are then not written anywhere: every object older than the report is in it, and
 * newer uploads are the upload trigger's. At most one job is submitted per report
 * (labelling/inventory-report.ts records it); while the newest report's job has been submitted,
 * a large backlog is only reported. Without a report yet, the manifest path above is taken.
 */
import type { S3Client } from '@aws-sdk/client-s3';

import type { ObjectJobMessage } from './events.js';
import { inventoryJobKey, loadInventoryJob, newestInventoryReport, saveInventoryJob, type InventoryLocation, type InventoryReport } from './inventory-report.js';
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
  /** The inventory report a large backlog was handed over as; `held`: a job over it was submitted before, nothing was submitted now. */
  inventory?: { report: string; manifestUri: string; held: boolean };
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
  /** Where the uploads' S3 Inventory reports are delivered: a large backlog goes to Batch as the newest report. @default none (manifests of the found keys) */
  inventory?: InventoryLocation;
  now?: () => Date;
}

/** Collects a sweep's missing keys and sends them on (see the module comment). */
export class BacklogDispatcher {
  private buffer: string[] = [];
  private writer: BacklogWriter | undefined;
  private count = 0;
  private readonly threshold: number;
  private result: DispatchReport;
  /** Set when the backlog passed the threshold and goes to Batch as an inventory report (see the module comment). */
  private viaInventory: { report: InventoryReport; held: boolean } | undefined;

  constructor(private readonly s3: S3Client, private readonly o: DispatchOptions, private readonly sinks: BacklogSinks) {
    this.threshold = plannerSettings(o.planner).lambdaMaxObjects;
    this.result = { plan: planBacklog(0, o.planner), enqueued: 0 };
  }

  /** Takes one missing key. */
  async add(key: string): Promise<void> {
    this.count++;
    if (this.viaInventory) return;
    if (this.writer) {
      await this.writer.add(key);
      return;
    }
    this.buffer.push(key);
    if (this.buffer.length > this.threshold) {
      this.viaInventory = await this.inventoryRoute();
      if (this.viaInventory) {
        this.buffer = [];
        return;
      }
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

  /** The newest inventory report and whether a job over it was submitted before; undefined when there is no inventory, report or submitter. */
  private async inventoryRoute(): Promise<{ report: InventoryReport; held: boolean } | undefined> {
    if (!this.o.inventory || !this.sinks.batch) return undefined;
    const report = await newestInventoryReport(this.s3, this.o.inventory);
    if (!report) return undefined;
    const last = await loadInventoryJob(this.s3, this.o.resultsBucket ?? this.o.bucket, inventoryJobKey(this.o.resultsPrefix, this.o.model, this.o.bucket));
    return { report, held: last?.report === report.date };
  }

  /** Submits one array job over the inventory report (a child per file, at most the planner's array size) and records it. */
  private async finishViaInventory(plan: BacklogPlan, via: { report: InventoryReport; held: boolean }): Promise<DispatchReport> {
    const { report, held } = via;
    const inventory = { report: report.date, manifestUri: report.manifestUri, held };
    if (held) return { plan, enqueued: 0, inventory };
    const arraySize = Math.min(report.files, plannerSettings(this.o.planner).maxArraySize);
    const sized: BacklogPlan = {
      ...plan,
      arraySize,
      reason: `${this.count} unlabelled objects found by this sweep, over the threshold of ${this.threshold}: the inventory report of ${report.date} (${report.files} files) as an array of ${arraySize}, each child skipping what has a result.`,
    };
    const stamp = (this.o.now?.() ?? new Date()).toISOString().replace(/[^0-9]/g, '').slice(0, 14);
    const submission: BatchSubmission = { input: report.manifestUri, model: this.o.model, plan: sized, jobName: `resnet-inventory-${stamp}` };
    const { jobId } = await this.sinks.batch!.submit(submission);
    await saveInventoryJob(this.s3, this.o.resultsBucket ?? this.o.bucket, inventoryJobKey(this.o.resultsPrefix, this.o.model, this.o.bucket), {
      report: report.date, manifestUri: report.manifestUri, jobId, arraySize, submittedAt: (this.o.now?.() ?? new Date()).toISOString(),
    });
    return { plan: sized, enqueued: 0, batch: { ...submission, jobId }, inventory };
  }

  /** Enqueues the buffered keys, or closes the manifest and submits the Batch job. */
  async finish(): Promise<DispatchReport> {
    const plan = planBacklog(this.count, this.o.planner ?? {});
    if (this.viaInventory) {
      this.result = await this.finishViaInventory(plan, this.viaInventory);
      return this.result;
    }
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
