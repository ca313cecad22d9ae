/**
 * Resolves a synthesised CloudFormation template's intrinsics (Ref, Fn::GetAtt, Fn::Join, Fn::Sub,
 * Fn::Select, Fn::Split and the pseudo parameters) to the values CloudFormation would give them
 * in a fixed test account and region, so that policies, environments and targets can be read as
 * deployed. Physical names come from `names` (logical id -> name, e.g. the data bucket -> the local
 * bucket the test uses), else the logical id in lower case; ARNs are built per resource type.
 */

/** A template as `cdk synth` writes it. */
export interface CfnTemplate {
  readonly Resources: Record<string, { readonly Type: string; readonly Properties?: Record<string, unknown> }>;
}

/** Where the resolved stack lives. */
export interface ResolveOptions {
  /** @default '123456789012' */
  readonly account?: string;
  /** @default 'us-east-1' */
  readonly region?: string;
  /** Physical name by logical id (buckets, queues, functions...). */
  readonly names?: Readonly<Record<string, string>>;
  /** @default 'ResnetServerless' */
  readonly stackName?: string;
}

/** An intrinsic the resolver does not know, or a reference to a resource the template lacks. */
export class UnresolvableError extends Error {
  constructor(what: string) {
    super(`Cannot resolve ${what}: add it to test/helpers/template-resolver.ts.`);
    this.name = 'UnresolvableError';
  }
}

/** Resolves the intrinsics of one template. */
export class TemplateResolver {
  readonly account: string;
  readonly region: string;
  readonly stackName: string;

  constructor(readonly template: CfnTemplate, private readonly opts: ResolveOptions = {}) {
    this.account = opts.account ?? '123456789012';
    this.region = opts.region ?? 'us-east-1';
    this.stackName = opts.stackName ?? 'ResnetServerless';
  }

  /** The physical name of a resource. */
  name(logicalId: string): string {
    return this.opts.names?.[logicalId] ?? logicalId.toLowerCase();
  }

  private typeOf(logicalId: string): string {
    const r = this.template.Resources[logicalId];
    if (!r) throw new UnresolvableError(`a reference to ${logicalId}, which is not in the template`);
    return r.Type;
  }

  /** `{ Ref: logicalId }` (or a pseudo parameter). */
  ref(id: string): string {
    const pseudo: Record<string, string> = {
      'AWS::AccountId': this.account, 'AWS::Region': this.region, 'AWS::Partition': 'aws', 'AWS::URLSuffix': 'amazonaws.com',
      'AWS::StackName': this.stackName, 'AWS::StackId': `arn:aws:cloudformation:${this.region}:${this.account}:stack/${this.stackName}/0`,
    };
    if (id in pseudo) return pseudo[id]!;
    const type = this.typeOf(id);
    switch (type) {
      case 'AWS::SQS::Queue': return `https://sqs.${this.region}.amazonaws.com/${this.account}/${this.name(id)}`;
      case 'AWS::Batch::JobQueue':
      case 'AWS::Batch::JobDefinition':
      case 'AWS::SNS::Topic':
      case 'AWS::IAM::ManagedPolicy':
        return this.arn(id);
      default: return this.name(id);
    }
  }

  /** The `Arn` attribute of a resource. */
  arn(id: string): string {
    const n = this.name(id);
    const at = `${this.region}:${this.account}`;
    switch (this.typeOf(id)) {
      case 'AWS::S3::Bucket': return `arn:aws:s3:::${n}`;
      case 'AWS::SQS::Queue': return `arn:aws:sqs:${at}:${n}`;
      case 'AWS::Lambda::Function': return `arn:aws:lambda:${at}:function:${n}`;
      case 'AWS::IAM::Role': return `arn:aws:iam::${this.account}:role/${n}`;
      case 'AWS::IAM::ManagedPolicy': return `arn:aws:iam::${this.account}:policy/${n}`;
      case 'AWS::Logs::LogGroup': return `arn:aws:logs:${at}:log-group:${n}:*`;
      case 'AWS::Batch::JobQueue': return `arn:aws:batch:${at}:job-queue/${n}`;
      case 'AWS::Batch::JobDefinition': return `arn:aws:batch:${at}:job-definition/${n}:1`;
      case 'AWS::SNS::Topic': return `arn:aws:sns:${at}:${n}`;
      case 'AWS::Scheduler::Schedule': return `arn:aws:scheduler:${at}:schedule/default/${n}`;
      default: throw new UnresolvableError(`the Arn of ${id} (${this.typeOf(id)})`);
    }
  }

  /** `{ Fn::GetAtt: [logicalId, attribute] }`. */
  getAtt(id: string, attribute: string): string {
    if (attribute === 'Arn' || attribute === 'JobQueueArn') return this.arn(id);
    if (attribute === 'QueueUrl') return this.ref(id);
    if (attribute === 'QueueName') return this.name(id);
    throw new UnresolvableError(`Fn::GetAtt ${id}.${attribute}`);
  }

  /** A value with every intrinsic replaced; objects and arrays are resolved deeply. */
  resolve(value: unknown): unknown {
    if (Array.isArray(value)) return value.map((v) => this.resolve(v));
    if (value === null || typeof value !== 'object') return value;
    const entries = Object.entries(value as Record<string, unknown>);
    if (entries.length === 1) {
      const [fn, arg] = entries[0]!;
      switch (fn) {
        case 'Ref': return this.ref(String(arg));
        case 'Fn::GetAtt': {
          const [id, attr] = Array.isArray(arg) ? arg.map(String) : String(arg).split(/\.(.*)/);
          return this.getAtt(id!, attr!);
        }
        case 'Fn::Join': {
          const [sep, parts] = arg as [string, unknown[]];
          return (this.resolve(parts) as unknown[]).map(String).join(sep);
        }
        case 'Fn::Sub': {
          const [text, vars] = typeof arg === 'string' ? [arg, {}] : (arg as [string, Record<string, unknown>]);
          const resolvedVars = this.resolve(vars) as Record<string, unknown>;
          return text.replace(/\$\{([^}!]+)\}/g, (_, name: string) => {
            if (name in resolvedVars) return String(resolvedVars[name]);
            const [id, attr] = name.split(/\.(.*)/);
            return attr ? this.getAtt(id!, attr) : this.ref(id!);
          });
        }
        case 'Fn::Select': {
          const [index, list] = arg as [unknown, unknown];
          return (this.resolve(list) as unknown[])[Number(this.resolve(index))];
        }
        case 'Fn::Split': {
          const [sep, text] = arg as [string, unknown];
          return String(this.resolve(text)).split(sep);
        }
        default:
          if (fn.startsWith('Fn::') || fn === 'Condition') throw new UnresolvableError(fn);
      }
    }
    return Object.fromEntries(entries.map(([k, v]) => [k, this.resolve(v)]));
  }

  /** A resolved string (throws when the value resolves to something else). */
  str(value: unknown): string {
    const out = this.resolve(value);
    if (typeof out !== 'string') throw new UnresolvableError(`${JSON.stringify(value)} to a string`);
    return out;
  }
}
