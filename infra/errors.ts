/**
 * Typed errors of the CDK app. They surface as a failed `cdk synth` with a message that
 * names the offending context key or file and says how to fix it.
 */
import { ResnetError } from '../core/errors.js';

/** A CDK context value is missing, malformed or out of range. */
export class InvalidContextError extends ResnetError {
  constructor(
    readonly key: string,
    got: unknown,
    expected: string,
  ) {
    super(
      'INVALID_ARGUMENT',
      // `expected` may end in its own punctuation ("did you mean "x"?"): no full stop after it.
      `Invalid CDK context "${key}": got ${JSON.stringify(got)}; expected ${expected}${/[.?!]$/.test(expected) ? '' : '.'} ` +
        `Set it with \`npx cdk synth -c ${key}=<value>\` or under "context" in cdk.json (see README, "Configuration").`,
    );
  }
}

/** A build artefact (layer folder, Dockerfile) that synth needs is not there. */
export class MissingArtefactError extends ResnetError {
  constructor(what: string, path: string, fix: string) {
    super('FILE_NOT_FOUND', `${what} not found at ${path}. ${fix}`);
  }
}

/** The chosen packaging cannot work within Lambda's limits. */
export class PackagingError extends ResnetError {
  constructor(detail: string) {
    super('INVALID_ARGUMENT', detail);
  }
}
