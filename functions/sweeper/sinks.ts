/**
 * AWS implementations of the sweeper's sinks: SQS SendMessageBatch and Batch SubmitJob.
 */
import { BatchClient, SubmitJobCommand } from '@aws-sdk/client-batch';
import { SendMessageBatchCommand, type SQSClient } from '@aws-sdk/client-sqs';

import type { ObjectJobMessage } from '../../labelling/events.js';
import type { BatchSubmission, BatchSubmitter, JobQueue } from './backlog.js';

/** SQS queue sink: 10 messages per SendMessageBatch call; failed entries are counted out. */
export function sqsJobQueue(sqs: SQSClient, queueUrl: string): JobQueue {
  return {
    async enqueue(jobs: readonly ObjectJobMessage[]): Promise<number> {
      let sent = 0;
      for (let i = 0; i < jobs.length; i += 10) {
        const chunk = jobs.slice(i, i + 10);
        const out = await sqs.send(
          new SendMessageBatchCommand({
            QueueUrl: queueUrl,
            Entries: chunk.map((j, n) => ({ Id: String(n), MessageBody: JSON.stringify(j) })),
          }),
        );
        sent += out.Successful?.length ?? 0;
      }
      return sent;
    },
  };
}

/**
 * AWS Batch sink: submits `resnet batch <input>` as an array job (a single job for size 1).
 * The array size is passed as `AWS_BATCH_JOB_ARRAY_SIZE`, which the worker needs to shard.
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
            environment: [
              { name: 'MODEL_ID', value: req.model },
              { name: 'AWS_BATCH_JOB_ARRAY_SIZE', value: String(Math.max(1, size)) },
            ],
          },
        }),
      );
      return { jobId: out.jobId ?? '' };
    },
  };
}
