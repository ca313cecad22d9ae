/**
 * cdk-nag acknowledgements. Constructs acknowledge the findings they cause, next to the code
 * that causes them, through {@link acknowledge}; the stack-wide ones are in
 * {@link applyNagSuppressions}. Every acknowledgement carries its reason; the infra tests fail
 * on any finding not acknowledged.
 */
import { type Stack, Validations } from 'aws-cdk-lib';
import type { IConstruct } from 'constructs';

/** Acknowledges findings (`[ruleId, reason]`) on a construct and everything below it. */
export function acknowledge(scope: IConstruct, findings: ReadonlyArray<readonly [id: string, reason: string]>): void {
  for (const [id, reason] of findings) Validations.of(scope).acknowledge({ id, reason });
}

/** Stack-wide acknowledgements (findings that have no single owning construct). */
export function applyNagSuppressions(stack: Stack): void {
  void stack;
}
