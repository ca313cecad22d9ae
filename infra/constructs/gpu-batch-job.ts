/**
 * The GPU path for large backlogs: AWS Batch with a Spot compute environment of g5/g6 instances
 * and an on-demand one behind it (the queue fills Spot first and overflows to on-demand once
 * Spot is at its vCPU ceiling), both scaling to zero; a job queue; a job definition running
 * the batch worker's container (built from batch/Dockerfile with the CUDA build of
 * onnxruntime-node). The sweeper submits array jobs: each child takes the shard given by
 * AWS_BATCH_JOB_ARRAY_INDEX/SIZE.
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { Duration, IgnoreMode, RemovalPolicy, Size } from 'aws-cdk-lib';
import * as batch from 'aws-cdk-lib/aws-batch';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as ecrAssets from 'aws-cdk-lib/aws-ecr-assets';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { REPO_ROOT } from '../../layers/paths.js';
import { dockerContextExclude } from '../docker.js';
import { MissingArtefactError } from '../errors.js';
import { acknowledge } from '../nag-suppressions.js';
import type { ModelPackaging } from './model-packaging.js';
import type { Storage } from './storage.js';

/** Props of {@link GpuBatchJob}. */
export interface GpuBatchJobProps {
  readonly storage: Storage;
  readonly packaging: ModelPackaging;
  /** g5/g6 instance types. */
  readonly instanceTypes: readonly string[];
  /** Most vCPUs of the Spot environment. */
  readonly maxVcpus: number;
  /** Most vCPUs of the on-demand fallback; 0 = none. */
  readonly onDemandMaxVcpus: number;
  /** Attempt timeout, minutes. */
  readonly jobTimeoutMinutes: number;
  readonly logRetentionDays: number;
  /** Environment shared with the functions (prefixes, TOP_K, ...). */
  readonly environment: Record<string, string>;
}

/** Dockerfile of the worker image, relative to the repository root (the build context). */
export const BATCH_DOCKERFILE = 'batch/Dockerfile';
/** Container command; `Ref::input` is a job parameter the sweeper may override per submission. */
export const BATCH_COMMAND = ['batch', 'Ref::input'];

export class GpuBatchJob extends Construct {
  readonly vpc: ec2.Vpc;
  readonly jobQueue: batch.JobQueue;
  readonly jobDefinition: batch.EcsJobDefinition;
  readonly jobRole: iam.Role;
  readonly image: ecrAssets.DockerImageAsset;

  constructor(scope: Construct, id: string, props: GpuBatchJobProps) {
    super(scope, id);
    const dockerfile = path.join(REPO_ROOT, BATCH_DOCKERFILE);
    if (!existsSync(dockerfile)) {
      throw new MissingArtefactError('The batch worker Dockerfile', dockerfile, 'Restore batch/ from the repository, or deploy without the GPU path: -c batch=false.');
    }

    // Public subnets and no NAT gateway: instances reach ECR, S3 and CloudWatch directly
    // (no inbound rules), which saves ~$33/month per NAT gateway on an otherwise idle stack.
    const flowLogs = new logs.LogGroup(this, 'FlowLogs', { retention: props.logRetentionDays as logs.RetentionDays, removalPolicy: RemovalPolicy.DESTROY });
    this.vpc = new ec2.Vpc(this, 'Vpc', {
      maxAzs: 3,
      natGateways: 0,
      restrictDefaultSecurityGroup: false,
      subnetConfiguration: [{ name: 'batch', subnetType: ec2.SubnetType.PUBLIC, cidrMask: 20 }],
      gatewayEndpoints: { S3: { service: ec2.GatewayVpcEndpointAwsService.S3 } },
      flowLogs: { all: { destination: ec2.FlowLogDestination.toCloudWatchLogs(flowLogs), trafficType: ec2.FlowLogTrafficType.REJECT } },
    });
    const securityGroup = new ec2.SecurityGroup(this, 'Instances', {
      vpc: this.vpc,
      description: 'Batch GPU instances: no inbound, outbound to AWS APIs',
      allowAllOutbound: true,
    });

    const instanceTypes = props.instanceTypes.map((t) => new ec2.InstanceType(t));
    const common = {
      vpc: this.vpc,
      vpcSubnets: { subnetType: ec2.SubnetType.PUBLIC },
      securityGroups: [securityGroup],
      instanceTypes,
      useOptimalInstanceClasses: false,
      minvCpus: 0,
      images: [{ imageType: batch.EcsMachineImageType.ECS_AL2023_NVIDIA }],
      updateToLatestImageVersion: true,
    };
    const spot = new batch.ManagedEc2EcsComputeEnvironment(this, 'Spot', {
      ...common,
      spot: true,
      maxvCpus: props.maxVcpus,
      allocationStrategy: batch.AllocationStrategy.SPOT_PRICE_CAPACITY_OPTIMIZED,
    });
    const environments: batch.OrderedComputeEnvironment[] = [{ computeEnvironment: spot, order: 1 }];
    if (props.onDemandMaxVcpus > 0) {
      const onDemand = new batch.ManagedEc2EcsComputeEnvironment(this, 'OnDemand', {
        ...common,
        spot: false,
        maxvCpus: props.onDemandMaxVcpus,
        allocationStrategy: batch.AllocationStrategy.BEST_FIT_PROGRESSIVE,
      });
      environments.push({ computeEnvironment: onDemand, order: 2 });
    }
    for (const ce of environments) {
      acknowledge(ce.computeEnvironment, [[
        'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AmazonEC2ContainerServiceforEC2Role]',
        'Instance role of the Batch hosts: the AWS-managed ECS instance policy is what AWS documents for the ECS agent (register, poll, ECR pull, logs); the job\'s own permissions are in the separate job role.',
      ]]);
    }
    this.jobQueue = new batch.JobQueue(this, 'Queue', { computeEnvironments: environments, priority: 1 });

    this.image = new ecrAssets.DockerImageAsset(this, 'WorkerImage', {
      directory: REPO_ROOT,
      file: BATCH_DOCKERFILE,
      platform: ecrAssets.Platform.LINUX_AMD64,
      buildArgs: { ONNXRUNTIME_NODE_INSTALL: 'cuda12' },
      // Only what the Dockerfile copies: the image (and its hash) changes with the code it runs, not with docs or tests.
      exclude: dockerContextExclude(readFileSync(dockerfile, 'utf8'), BATCH_DOCKERFILE),
      ignoreMode: IgnoreMode.DOCKER,
    });

    this.jobRole = new iam.Role(this, 'JobRole', {
      assumedBy: new iam.ServicePrincipal('ecs-tasks.amazonaws.com'),
      description: 'Batch worker: read uploads, write tags and results, read the model',
    });
    props.storage.grantUploads(this.jobRole, 'read');
    props.storage.grantUploads(this.jobRole, 'tag');
    props.storage.grantUploads(this.jobRole, 'list');
    props.storage.grantResults(this.jobRole, 'read-write');
    props.packaging.grantModelRead(this.jobRole);

    const jobLogs = new logs.LogGroup(this, 'JobLogs', { retention: props.logRetentionDays as logs.RetentionDays, removalPolicy: RemovalPolicy.DESTROY });
    const container = new batch.EcsEc2ContainerDefinition(this, 'Worker', {
      image: ecs.ContainerImage.fromDockerImageAsset(this.image),
      // g5/g6.xlarge: 4 vCPUs, 16 GiB, 1 GPU; leave ~2 GiB for the ECS agent and the OS.
      cpu: 4,
      memory: Size.mebibytes(14_336),
      gpu: 1,
      command: BATCH_COMMAND,
      jobRole: this.jobRole,
      logging: ecs.LogDriver.awsLogs({ logGroup: jobLogs, streamPrefix: 'worker' }),
      environment: { ...props.environment, ...props.packaging.s3Environment },
    });
    acknowledge(container, [['AwsSolutions-IAM5[Resource::*]', 'Execution role: ecr:GetAuthorizationToken has no resource-level permissions, AWS requires Resource "*"; image pulls are limited to the CDK assets repository.']]);
    this.jobDefinition = new batch.EcsJobDefinition(this, 'Job', {
      container,
      parameters: { input: `s3://${props.storage.bucket.bucketName}/${props.storage.uploadsPrefix}` },
      timeout: Duration.minutes(props.jobTimeoutMinutes),
      retryAttempts: 3,
      // A reclaimed Spot instance is retried (the worker resumes: finished objects are skipped);
      // a worker that failed by itself is not, its manifest says why.
      retryStrategies: [
        batch.RetryStrategy.of(batch.Action.RETRY, batch.Reason.SPOT_INSTANCE_RECLAIMED),
        batch.RetryStrategy.of(batch.Action.RETRY, batch.Reason.CANNOT_PULL_CONTAINER),
        batch.RetryStrategy.of(batch.Action.EXIT, batch.Reason.NON_ZERO_EXIT_CODE),
      ],
    });
  }

  /** batch:SubmitJob on this queue and job definition only. */
  grantSubmit(grantee: iam.IGrantable): void {
    this.jobDefinition.grantSubmitJob(grantee, this.jobQueue);
  }
}
