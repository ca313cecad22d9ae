/**
 * Scheduled backlog sweep: an EventBridge Scheduler schedule invokes the sweeper, which finds
 * unlabelled objects under the uploads prefix (resuming where the last sweep stopped) and either
 * fans them out to the work queue (one message per object, consumed by the sqs-worker) or, above
 * the backlog threshold, writes a manifest of them and submits a GPU Batch array job over it
 * (labelling/planner.ts decides). With the uploads' S3 Inventory, a backlog past the threshold is
 * submitted as the newest inventory report instead; until the first report is delivered (up to
 * 48 hours after the deployment), as the manifest.
 */
import { Duration, Stack } from 'aws-cdk-lib';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import * as targets from 'aws-cdk-lib/aws-scheduler-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { SWEEP_FOLDER } from '../../labelling/sweep-state.js';
import { acknowledge } from '../nag-suppressions.js';
import type { BacklogInventory } from './backlog-inventory.js';
import type { ClassifierFunction } from './classifier-function.js';
import type { GpuBatchJob } from './gpu-batch-job.js';
import { QueueWithDlq } from './queue-with-dlq.js';
import type { Storage } from './storage.js';

/** Props of {@link BacklogSweeper}. */
export interface BacklogSweeperProps {
  readonly storage: Storage;
  /** The sweeper function (lists, plans, sends or submits). */
  readonly sweeper: ClassifierFunction;
  /** The sqs-worker that labels fanned-out objects. */
  readonly worker: ClassifierFunction;
  /** Scheduler expression, e.g. "rate(1 hour)". */
  readonly schedule: string;
  readonly backlogThreshold: number;
  readonly batchSize: number;
  readonly maxConcurrency: number;
  /** The GPU path; undefined when disabled (the sweeper then always fans out). */
  readonly gpu?: GpuBatchJob;
  /**
   * The uploads' S3 Inventory: with the GPU path, a backlog past the threshold goes to Batch as its
   * newest report. @default none (manifests of the keys the sweep found)
   */
  readonly inventory?: BacklogInventory;
}

export class BacklogSweeper extends Construct {
  readonly work: QueueWithDlq;
  /** Failed scheduler deliveries and failed asynchronous sweeper invocations. */
  readonly failures: sqs.Queue;
  readonly schedule: scheduler.Schedule;

  constructor(scope: Construct, id: string, props: BacklogSweeperProps) {
    super(scope, id);
    const { storage, sweeper, worker } = props;
    this.work = new QueueWithDlq(this, 'Work', { consumerTimeoutSeconds: worker.timeoutSeconds });
    this.work.consumeWith(worker.fn, { batchSize: props.batchSize, maxConcurrency: props.maxConcurrency });
    acknowledge(worker, [
      ['Serverless-LambdaDLQ', 'Invoked synchronously by the SQS event source: failed messages go to the work queue\'s dead-letter queue, not to a function DLQ.'],
      ['Serverless-LambdaEventSourceMappingDestination', 'SQS event source mappings do not support on-failure destinations; the queue\'s redrive policy is the failure path.'],
    ]);
    // The sweeper's jobs come from a listing: they name no version.
    storage.grantUploads(worker.fn, 'read');
    storage.grantUploads(worker.fn, 'tag');
    storage.grantResults(worker.fn, 'read-write');

    // What the sweep calls (labelling/sweep.ts): ListObjectsV2 over the uploads and the results,
    // HeadObject on a few results (s3:GetObject), GetObject/PutObject of its cursor and PutObject
    // of backlog manifests under <results>/_sweep/, SendMessageBatch (sqs:SendMessage) to the work
    // queue. It never reads an image.
    iam.Grant.addToPrincipal({ grantee: sweeper.fn, actions: ['sqs:SendMessage'], resourceArns: [this.work.queue.queueArn] });
    storage.grantUploads(sweeper.fn, 'list');
    storage.grantResults(sweeper.fn, 'read');
    const sweepFolder = `${storage.resultsPrefix}${SWEEP_FOLDER}`;
    iam.Grant.addToPrincipal({ grantee: sweeper.fn, actions: ['s3:PutObject'], resourceArns: [storage.bucket.arnForObjects(`${sweepFolder}*`)] });
    const cfnBucket = storage.bucket.node.defaultChild as s3.CfnBucket | undefined;
    const bucketRef = cfnBucket ? `<${Stack.of(this).getLogicalId(cfnBucket)}.Arn>` : `arn:<AWS::Partition>:s3:::${storage.bucket.bucketName}`;
    acknowledge(sweeper, [[`AwsSolutions-IAM5[Resource::${bucketRef}/${sweepFolder}*]`,
      `The sweep writes its cursor and backlog manifests under "${sweepFolder}" with run-time names; the grant is limited to that folder.`]]);
    sweeper.fn.addEnvironment('QUEUE_URL', this.work.queue.queueUrl);
    sweeper.fn.addEnvironment('BACKLOG_THRESHOLD', String(props.backlogThreshold));
    if (props.gpu) {
      props.gpu.grantSubmit(sweeper.fn);
      sweeper.fn.addEnvironment('BATCH_JOB_QUEUE', props.gpu.jobQueue.jobQueueArn);
      sweeper.fn.addEnvironment('BATCH_JOB_DEFINITION', props.gpu.jobDefinition.jobDefinitionArn);
      // Without the GPU path the sweep never submits, so it has no use for the reports.
      const reports = props.inventory?.bucket;
      if (reports) {
        props.inventory!.grantFindReports(sweeper.fn);
        sweeper.fn.addEnvironment('INVENTORY_BUCKET', reports.bucketName);
        sweeper.fn.addEnvironment('INVENTORY_PREFIX', props.inventory!.reportsFolder);
      }
    }

    // One dead-letter queue for both ways a sweep can be lost: the scheduler failing to invoke,
    // and the invocation itself failing after Lambda's asynchronous retries.
    this.failures = new sqs.Queue(this, 'Failures', {
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: Duration.days(14),
    });
    sweeper.fn.configureAsyncInvoke({ onFailure: new SendOnlyQueueDestination(this.failures), retryAttempts: 2, maxEventAge: Duration.hours(1) });
    acknowledge(this.failures, [
      ['AwsSolutions-SQS3', 'This queue is itself a dead-letter queue: of the schedule target and of the sweeper\'s asynchronous invocations.'],
      ['Serverless-SQSRedrivePolicy', 'This queue is itself a dead-letter queue; a further DLQ would only move its messages.'],
    ]);
    acknowledge(sweeper, [['Serverless-LambdaDLQ', 'Asynchronous failures go to an on-failure destination (the Failures queue, EventInvokeConfig), which supersedes a function DLQ.']]);
    this.schedule = new scheduler.Schedule(this, 'Schedule', {
      description: 'Sweep the uploads prefix for unlabelled images',
      schedule: scheduler.ScheduleExpression.expression(props.schedule),
      target: new InvokeFunction(sweeper.fn, {
        deadLetterQueue: this.failures,
        maxEventAge: Duration.hours(1),
        retryAttempts: 2,
      }),
    });
  }
}

/**
 * An SQS on-failure destination whose grant is what Lambda uses to deliver: sqs:SendMessage
 * (aws-lambda-destinations' SqsDestination also grants sqs:GetQueueAttributes and sqs:GetQueueUrl).
 */
class SendOnlyQueueDestination implements lambda.IDestination {
  constructor(private readonly queue: sqs.IQueue) {}

  bind(_scope: Construct, fn: lambda.IFunction): lambda.DestinationConfig {
    fn.addToRolePolicy(new iam.PolicyStatement({ actions: ['sqs:SendMessage'], resources: [this.queue.queueArn] }));
    return { destination: this.queue.queueArn };
  }
}

/**
 * The scheduler's Lambda target, its role allowed to invoke the function's unqualified ARN, which
 * is what the schedule names (LambdaInvoke grants `<function ARN>:*`, every version and alias, too).
 */
class InvokeFunction extends targets.LambdaInvoke {
  constructor(private readonly target: lambda.IFunction, props: targets.ScheduleTargetBaseProps) {
    super(target, props);
  }

  protected override addTargetActionToRole(role: iam.IRole): void {
    role.addToPrincipalPolicy(new iam.PolicyStatement({ actions: ['lambda:InvokeFunction'], resources: [this.target.functionArn] }));
  }
}
