/**
 * An encrypted, TLS-only SQS queue whose poison messages move to a dead-letter queue after a
 * few receives, with a visibility timeout of 6x the consumer's timeout (AWS's guidance for
 * Lambda event sources: a message is not redelivered while a retried batch still runs).
 */
import { Duration, Names } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { acknowledge } from '../nag-suppressions.js';

/** Props of {@link QueueWithDlq}. */
export interface QueueWithDlqProps {
  /** Timeout of the Lambda function that consumes the queue, seconds. */
  readonly consumerTimeoutSeconds: number;
  /** Receives before a message is dead-lettered. @default 5 */
  readonly maxReceiveCount?: number;
}

/** Options of {@link QueueWithDlq.consumeWith}. */
export interface ConsumerOptions {
  /** Messages per invocation. */
  readonly batchSize: number;
  /** Most concurrent invocations the event source starts. */
  readonly maxConcurrency: number;
}

/** What Lambda's SQS poller calls with the function's role (the actions of AWSLambdaSQSQueueExecutionRole). */
export const SQS_POLLER_ACTIONS = ['sqs:ReceiveMessage', 'sqs:DeleteMessage', 'sqs:GetQueueAttributes'];

/** Ratio of visibility timeout to consumer timeout. */
export const VISIBILITY_FACTOR = 6;

export class QueueWithDlq extends Construct {
  readonly queue: sqs.Queue;
  readonly deadLetterQueue: sqs.Queue;

  constructor(scope: Construct, id: string, props: QueueWithDlqProps) {
    super(scope, id);
    this.deadLetterQueue = new sqs.Queue(this, 'Dlq', {
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: Duration.days(14),
    });
    this.queue = new sqs.Queue(this, 'Queue', {
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      visibilityTimeout: Duration.seconds(VISIBILITY_FACTOR * props.consumerTimeoutSeconds),
      retentionPeriod: Duration.days(4),
      deadLetterQueue: { queue: this.deadLetterQueue, maxReceiveCount: props.maxReceiveCount ?? 5 },
    });
    acknowledge(this.deadLetterQueue, [
      ['Serverless-SQSRedrivePolicy', 'This queue is the dead-letter queue; its messages are inspected and redriven by hand, a further DLQ would only move them.'],
      ['AwsSolutions-SQS3', 'This queue is the dead-letter queue of its sibling.'],
    ]);
  }

  /**
   * Makes `fn` the queue's consumer: an event source mapping with partial batch responses (only
   * the failed records are retried) and the poller's three permissions. CDK's SqsEventSource would
   * also grant sqs:ChangeMessageVisibility and sqs:GetQueueUrl, which Lambda does not list as
   * needed (test/e2e/lambda-artifacts.test.ts evaluates the three); the
   * mapping keeps SqsEventSource's construct id, so its logical id does not change.
   */
  consumeWith(fn: lambda.IFunction, opts: ConsumerOptions): lambda.EventSourceMapping {
    fn.addToRolePolicy(new iam.PolicyStatement({ actions: SQS_POLLER_ACTIONS, resources: [this.queue.queueArn] }));
    return fn.addEventSourceMapping(`SqsEventSource:${Names.nodeUniqueId(this.queue.node)}`, {
      eventSourceArn: this.queue.queueArn,
      batchSize: opts.batchSize,
      maxConcurrency: opts.maxConcurrency,
      reportBatchItemFailures: true,
    });
  }
}
