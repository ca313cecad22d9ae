/**
 * A classifier Lambda function with the project's defaults: esbuild-bundled CommonJS (the
 * onnxruntime layer is only reachable through NODE_PATH, which only `require` honours),
 * onnxruntime-node external, model location from {@link ModelPackaging}, JSON logs in a log
 * group with retention, X-Ray tracing. Dead-letter paths belong to the event source (the
 * queue's DLQ, or an on-failure destination set by the construct that invokes it asynchronously).
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { type CfnResource, Duration, RemovalPolicy, Size, Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as nodejs from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { REPO_ROOT } from '../../layers/paths.js';
import type { Architecture } from '../config.js';
import { MissingArtefactError } from '../errors.js';
import { acknowledge } from '../nag-suppressions.js';
import type { ModelPackaging } from './model-packaging.js';

/** Props of {@link ClassifierFunction}. */
export interface ClassifierFunctionProps {
  /** Handler entry, relative to the repository root (exports `handler`). */
  readonly entry: string;
  readonly description: string;
  readonly architecture: Architecture;
  /** MB. */
  readonly memoryMb: number;
  /** Seconds. */
  readonly timeoutSeconds: number;
  /** @default undefined (unreserved) */
  readonly reservedConcurrency?: number;
  readonly logRetentionDays: number;
  /** Model and onnxruntime; omit for functions that never classify (the sweeper). */
  readonly packaging?: ModelPackaging;
  /** Extra environment variables. */
  readonly environment?: Record<string, string>;
  /** POWERTOOLS_SERVICE_NAME. */
  readonly serviceName: string;
  /** Metrics namespace shared by all functions. */
  readonly metricsNamespace: string;
}

/**
 * Node.js 24 (LTS) on Amazon Linux 2023 (glibc 2.34; onnxruntime-node 1.30 needs glibc >= 2.28).
 * Pinned rather than NODEJS_LATEST so that a CDK upgrade never moves the runtime untested.
 */
export const FUNCTION_RUNTIME = lambda.Runtime.NODEJS_24_X;

export class ClassifierFunction extends Construct {
  readonly fn: nodejs.NodejsFunction;
  readonly logGroup: logs.LogGroup;
  readonly role: iam.Role;
  readonly timeoutSeconds: number;

  constructor(scope: Construct, id: string, props: ClassifierFunctionProps) {
    super(scope, id);
    const entry = path.join(REPO_ROOT, props.entry);
    if (!existsSync(entry)) {
      throw new MissingArtefactError('The Lambda handler', entry, 'The functions/ sources are part of the repository; restore them (git checkout) before synth.');
    }
    this.timeoutSeconds = props.timeoutSeconds;
    this.logGroup = new logs.LogGroup(this, 'Logs', {
      retention: props.logRetentionDays as logs.RetentionDays,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    // Own role instead of AWSLambdaBasicExecutionRole (logs:* on every log group): write to this log group only.
    this.role = new iam.Role(this, 'Role', {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: `${props.description} (function role)`,
    });
    this.role.addToPrincipalPolicy(new iam.PolicyStatement({
      actions: ['logs:CreateLogStream', 'logs:PutLogEvents'],
      resources: [this.logGroup.logGroupArn],
    }));
    const packaging = props.packaging;
    this.fn = new nodejs.NodejsFunction(this, 'Function', {
      role: this.role,
      entry,
      handler: 'handler',
      description: props.description,
      runtime: FUNCTION_RUNTIME,
      architecture: props.architecture === 'arm64' ? lambda.Architecture.ARM_64 : lambda.Architecture.X86_64,
      memorySize: props.memoryMb,
      timeout: Duration.seconds(props.timeoutSeconds),
      reservedConcurrentExecutions: props.reservedConcurrency,
      ephemeralStorageSize: Size.mebibytes(packaging?.decision.mode === 's3' ? packaging.decision.ephemeralStorageMb : 512),
      layers: packaging?.layers,
      tracing: lambda.Tracing.ACTIVE,
      logGroup: this.logGroup,
      loggingFormat: lambda.LoggingFormat.JSON,
      projectRoot: REPO_ROOT,
      depsLockFilePath: path.join(REPO_ROOT, 'package-lock.json'),
      environment: {
        ...packaging?.environment,
        POWERTOOLS_SERVICE_NAME: props.serviceName,
        POWERTOOLS_METRICS_NAMESPACE: props.metricsNamespace,
        NODE_OPTIONS: '--enable-source-maps',
        ...props.environment,
      },
      bundling: {
        format: nodejs.OutputFormat.CJS,
        target: 'node24',
        // Supplied by the onnxruntime layer (native binaries cannot be bundled).
        externalModules: ['onnxruntime-node'],
        forceDockerBundling: false,
        minify: true,
        sourceMap: true,
        sourcesContent: false,
        // The sources are ESM; in a CJS bundle import.meta.url would be undefined.
        banner: 'const __importMetaUrl = require("url").pathToFileURL(__filename).href;',
        define: { 'import.meta.url': '__importMetaUrl' },
        logLevel: nodejs.LogLevel.ERROR,
      },
    });
    acknowledge(this, [
      ['AwsSolutions-IAM5[Resource::*]', 'X-Ray tracing: xray:PutTraceSegments and xray:PutTelemetryRecords support no resource-level permissions, AWS requires Resource "*".'],
      [`AwsSolutions-IAM5[Resource::<${Stack.of(this).getLogicalId(this.logGroup.node.defaultChild as CfnResource)}.Arn>:*]`,
        'The log group ARN attribute ends in ":*" so that Lambda can create log streams, whose names it picks at run time, in this one log group.'],
      ['AwsSolutions-L1', 'Pinned to nodejs24.x (the latest LTS runtime, Amazon Linux 2023), the Node version the tests run on; pinned so that a CDK upgrade never moves it untested.'],
      ['Serverless-LambdaLatestVersion', 'Same as AwsSolutions-L1: nodejs24.x is pinned deliberately.'],
    ]);
  }
}
