/** The batch worker's public API. */
export { registerBatchCommand, EXIT_INTERRUPTED, EXIT_SOME_FAILED } from './command.js';
export { defaultS3Client } from './s3/s3-client.js';
export { runBatch } from './run-batch.js';
export { formatSummary } from './summary.js';
export type { BatchOptions, BatchSummary, StageStats, BatchClassifier } from './types.js';
export { parseShard, shardFromEnv, resolveShard, shardOf, inShard, keyHash, type Shard } from './sources/shard.js';
export { parseInput, openSource, type InputSpec, type SourceObject } from './sources/sources.js';
export { parseEp, candidateProviders, availableBackends, type EpChoice } from './gpu/ep.js';
export { PreparePool, type PreparePoolOptions } from './threads/prepare-pool.js';
export { InferenceThread } from './threads/infer-thread.js';
