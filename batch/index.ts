/** The batch worker's public API. */
export { registerBatchCommand, EXIT_INTERRUPTED, EXIT_SOME_FAILED } from './command.js';
export { defaultS3Client } from './s3-client.js';
export { runBatch, formatSummary, type BatchOptions, type BatchSummary, type StageStats, type BatchClassifier } from './run-batch.js';
export { parseShard, shardFromEnv, resolveShard, shardOf, inShard, keyHash, type Shard } from './shard.js';
export { parseInput, openSource, type InputSpec, type SourceObject } from './sources.js';
export { parseEp, candidateProviders, availableBackends, type EpChoice } from './ep.js';
