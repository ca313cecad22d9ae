/**
 * onnxruntime session defaults per Lambda memory size. Lambda gives about one vCPU per 1,769 MB
 * (two cores visible up to 3,008 MB, six at 10,240 MB); intra-op threads beyond the CPU share only
 * contend with each other, and fewer leave paid-for CPU idle. The measurements behind the rule are
 * in docs/quantization.md (`npm run bench:sizing`).
 */

/** Memory that buys one vCPU, MB. */
export const MB_PER_VCPU = 1769;

/** Most vCPUs a Lambda function gets (at 10,240 MB). */
const MAX_LAMBDA_VCPUS = 6;

/**
 * Intra-op threads for a function of `memoryMb`: its vCPU share rounded to the nearest whole CPU,
 * at least 1 and at most 6 (1 up to 2,653 MB, 2 from 2,654 MB, so 2 at the 3,008 MB default).
 * @param memoryMb the function's memory, MB (128..10,240).
 */
export function ortThreadsFor(memoryMb: number): number {
  return Math.min(MAX_LAMBDA_VCPUS, Math.max(1, Math.round(memoryMb / MB_PER_VCPU)));
}

/** The environment a classifying function reads its session options from (functions/common/model.ts). */
export function sessionEnvironment(memoryMb: number, ortThreads?: number): Record<string, string> {
  return { ORT_THREADS: String(ortThreads ?? ortThreadsFor(memoryMb)) };
}
