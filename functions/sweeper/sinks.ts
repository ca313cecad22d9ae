/**
 * AWS implementations of the sweeper's sinks: SQS SendMessageBatch and Batch SubmitJob.
 */
import { type BatchClient, SubmitJobCommand } from '@aws-sdk/client-batch';
import { SendMessageBatchCommand, type SendMessageBatchRequestEntry, type SQSClient } from '@aws-sdk/client-sqs';

import type { BatchSubmission, BatchSubmitter, JobQueue } from '../../labelling/backlog-dispatch.js';
import type { ObjectJobMessage } from '../../labelling/events.js';

/** SendMessageBatch calls in flight at once. */
const SEND_CONCURRENCY = 8;
/** Rounds of re-sending the entries SQS reported as failed (throttled, internal errors). */
const ENTRY_RETRIES = 4;

/**
 * SQS queue sink: 10 messages per SendMessageBatch call, 8 calls in flight (5,000 messages take
 * 500 calls, a few seconds). Entries SQS reports as failed are sent again (after the SDK's own
 * retries of whole calls); when some still fail, it throws, so the sweep does not move its cursor
 * and the next sweep finds those objects again: nothing is dropped.
 */
export function sqsJobQueue(sqs: SQSClient, queueUrl: string): JobQueue {
  const sendChunk = async (jobs: readonly ObjectJobMessage[]): Promise<number> => {
    let pending: SendMessageBatchRequestEntry[] = jobs.map((j, n) => ({ Id: String(n), MessageBody: JSON.stringify(j) }));
    let sent = 0;
    for (let round = 0; pending.length > 0; round++) {
      const out = await sqs.send(new SendMessageBatchCommand({ QueueUrl: queueUrl, Entries: pending }));
      sent += out.Successful?.length ?? 0;
      const failed = new Set((out.Failed ?? []).map((f) => f.Id));
      const senderFault = (out.Failed ?? []).find((f) => f.SenderFault);
      if (senderFault) throw new Error(`SQS rejected a job message (${senderFault.Code}: ${senderFault.Message}); the sweep will find the object again.`);
      pending = pending.filter((e) => failed.has(e.Id));
      if (pending.length > 0 && round >= ENTRY_RETRIES) throw new Error(`${pending.length} job messages could not be sent to ${queueUrl}; the next sweep finds those objects again.`);
      if (pending.length > 0) await new Promise((r) => setTimeout(r, 200 * 2 ** round));
    }
    return sent;
  };
  return {
    async enqueue(jobs: readonly ObjectJobMessage[]): Promise<number> {
      let next = 0;
      let sent = 0;
      const lane = async (): Promise<void> => {
        while (next < jobs.length) {
          const chunk = jobs.slice(next, next + 10);
          next += 10;
          sent += await sendChunk(chunk);
        }
      };
      await Promise.all(Array.from({ length: Math.min(SEND_CONCURRENCY, Math.ceil(jobs.length / 10)) }, lane));
      return sent;
    },
  };
}

/**
 * AWS Batch sink: submits `resnet batch <backlog.json>` as an array job with one child per
 * manifest part (a single job for one part). AWS Batch sets `AWS_BATCH_JOB_ARRAY_INDEX` and
 * `AWS_BATCH_JOB_ARRAY_SIZE` in each child itself; names starting with `AWS_BATCH` are reserved
 * and SubmitJob refuses them in an override.
 */
export function awsBatchSubmitter(batch: BatchClient, jobQueue: string, jobDefinition: string): BatchSubmitter {
  return {
    async submit(req: BatchSubmission): Promise<{ jobId: string }> {
      const size = req.plan.arraySize;
      const out = await batch.send(
        new SubmitJobCommand({
          jobName: req.jobName,
          jobQueue,
          jobDefinition,
          ...(size >= 2 ? { arrayProperties: { size } } : {}),
          containerOverrides: {
            command: ['batch', req.input],
            environment: [{ name: 'MODEL_ID', value: req.model }],
          },
        }),
      );
      return { jobId: out.jobId ?? '' };
    },
  };
}
