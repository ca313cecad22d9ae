import { describe, expect, test } from '@jest/globals';

import { bulkPartKey, bulkRunDescriptorKey, bulkRunPrefix, defaultRunId, resultsModeFromEnv } from '../../batch/bulk/bulk-results.js';
import { batchOptionsFromFlags } from '../../batch/command.js';
import { resultLine, type ResultDoc } from '../../labelling/results.js';

describe('results mode', () => {
  test.each([
    [undefined, 'per-object'],
    ['', 'per-object'],
    ['per-object', 'per-object'],
    ['shard', 'shard'],
  ])('RESULTS_MODE=%p is %p', (v, want) => {
    expect(resultsModeFromEnv(v === undefined ? {} : { RESULTS_MODE: v })).toBe(want);
  });

  test.each([['shards'], ['SHARD'], ['bulk']])('RESULTS_MODE=%p is refused with the modes to choose from', (v) => {
    expect(() => resultsModeFromEnv({ RESULTS_MODE: v })).toThrow(/RESULTS_MODE must be one of per-object, shard/);
  });

  test('--results wins over RESULTS_MODE, which is the default', () => {
    const flags = { ep: 'cpu', inputKind: 'auto', tags: true, progress: 'off', progressInterval: 10, grace: 100 };
    const before = process.env.RESULTS_MODE;
    try {
      process.env.RESULTS_MODE = 'shard';
      expect(batchOptionsFromFlags('s3://b/p/', flags).results).toBe('shard');
      expect(batchOptionsFromFlags('s3://b/p/', { ...flags, results: 'per-object', runId: 'r1', partObjects: 10 })).toMatchObject({ results: 'per-object', runId: 'r1', partObjects: 10 });
      delete process.env.RESULTS_MODE;
      expect(batchOptionsFromFlags('s3://b/p/', flags).results).toBe('per-object');
    } finally {
      if (before === undefined) delete process.env.RESULTS_MODE;
      else process.env.RESULTS_MODE = before;
    }
  });
});

describe('layout', () => {
  test('parts and the run descriptor', () => {
    const run = bulkRunPrefix('resnet-results/', 'resnet50-v2', 'run-1');
    expect(run).toBe('resnet-results/_bulk/resnet50-v2/run-1/');
    expect(bulkPartKey(run, 3, 12)).toBe('resnet-results/_bulk/resnet50-v2/run-1/child-3-part-00012.jsonl.gz');
    // Outside the parts' folder: an Athena table over it reads only parts.
    expect(bulkRunDescriptorKey('resnet-results/', 'resnet50-v2', 'run-1').startsWith(run)).toBe(false);
  });

  test('the default run id is stable for one input and array size, and differs otherwise', () => {
    const a = defaultRunId('s3://b/backlog.json', 8);
    expect(a).toMatch(/^run-[0-9a-f]{12}$/);
    expect(defaultRunId('s3://b/backlog.json', 8)).toBe(a);
    expect(defaultRunId('s3://b/backlog.json', 4)).not.toBe(a);
    expect(defaultRunId('s3://b/other.json', 8)).not.toBe(a);
  });

  test('a line is one JSON object with the stable fields and labelledAt, no timings', () => {
    const doc: ResultDoc = {
      bucket: 'b', key: 'k 1.jpg', versionId: null, etag: 'e', lastModified: '2026-01-01T00:00:00.000Z', size: 3, schemaVersion: 1, model: 'm',
      labels: [{ rank: 1, index: 2, id: 'n1', name: 'cat', score: 0.5 }], parents: [{ rank: 1, id: 'n0', name: 'animal', score: 0.9 }],
      producer: 'batch', timingsMs: { total: 5 }, labelledAt: '2026-01-02T00:00:00.000Z',
    };
    const line = resultLine(doc);
    expect(line).not.toContain('\n');
    expect(JSON.parse(line)).toEqual({
      schemaVersion: 1, bucket: 'b', key: 'k 1.jpg', versionId: null, etag: 'e', lastModified: '2026-01-01T00:00:00.000Z', size: 3, model: 'm',
      labels: doc.labels, parents: doc.parents, labelledAt: doc.labelledAt,
    });
  });
});
