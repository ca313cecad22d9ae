import { buildTagSet, parentSettingsFromEnv, parentTagOrder, sanitizeTagValue, MAX_TAGS } from '../../labelling/tags.js';
import { compareSequencers, decideWrite, resultKey, serializeResult, stableBody, buildResult, type ResultDoc, type SourceRef } from '../../labelling/results.js';
import { decodeS3Key, encodeS3Key, isValidObjectKey, refsFromSqsRecord } from '../../labelling/events.js';
import { isTransientS3Error } from '../../labelling/errors.js';

const TAG_CHARSET = /^[\p{L}\p{N} +\-=._:/@]*$/u;

describe('sanitizeTagValue', () => {
  test.each([
    ['tabby, tabby cat', 'tabby / tabby cat'],
    ["carpenter's kit, tool kit", 'carpenters kit / tool kit'],
    ["jack-o'-lantern", 'jack-o-lantern'],
    ['yellow lady\'s slipper, yellow lady-slipper, Cypripedium calceolus, Cypripedium parviflorum', 'yellow ladys slipper / yellow lady-slipper / Cypripedium calceolus / Cypripedium parviflorum'],
    ['crane (bird)', 'crane bird'],
    ['Eßzimmer ü & co', 'Eßzimmer ü co'],
    ['  a\tb\n', 'a b'],
  ])('%j → %j', (input, expected) => {
    expect(sanitizeTagValue(input)).toBe(expected);
    expect(sanitizeTagValue(input)).toMatch(TAG_CHARSET);
  });
  test('cuts to 256 code points', () => {
    expect(Array.from(sanitizeTagValue('ü'.repeat(300)))).toHaveLength(256);
  });
});

describe('buildTagSet', () => {
  const labels = [1, 2, 3, 4, 5].map((rank) => ({ rank, name: `class ${rank}, alias` }));
  test.each([
    [0, ['resnet:label1', 'resnet:model', 'resnet:label2', 'resnet:label3', 'resnet:label4', 'resnet:label5'], []],
    [5, ['resnet:label1', 'resnet:model', 'resnet:label2', 'resnet:label3', 'resnet:label4'], ['resnet:label5']],
    [9, ['resnet:label1'], ['resnet:model', 'resnet:label2', 'resnet:label3', 'resnet:label4', 'resnet:label5']],
    [10, [], ['resnet:label1', 'resnet:model', 'resnet:label2', 'resnet:label3', 'resnet:label4', 'resnet:label5']],
  ])('with %i user tags', (n, ours, dropped) => {
    const user = Array.from({ length: n }, (_, i) => ({ Key: `u${i}`, Value: `v${i}` }));
    const stale = [{ Key: 'resnet:label9', Value: 'old' }];
    const r = buildTagSet({ labels }, 'resnet50-v2', [...user, ...stale]);
    expect(r.tagSet.slice(0, n)).toEqual(user);
    expect(r.tagSet.slice(n).map((t) => t.Key)).toEqual(ours);
    expect(r.dropped).toEqual(dropped);
    expect(r.tagSet.length).toBeLessThanOrEqual(MAX_TAGS);
    expect(r.tagSet.find((t) => t.Key === 'resnet:label1')?.Value ?? 'class 1 / alias').toBe('class 1 / alias');
  });
  describe('with parents', () => {
    // Over 50 % the parents form one line of ancestry, best (most general) first.
    const parents = ['animal', 'mammal', 'carnivore', 'canine', 'dog'].map((name, i) => ({ rank: i + 1, name }));
    test.each([
      [0, 2, ['resnet:label1', 'resnet:parent1', 'resnet:model', 'resnet:parent2', 'resnet:label2', 'resnet:label3', 'resnet:label4', 'resnet:label5'], ['class 1 / alias', 'dog', 'm', 'animal', 'class 2 / alias']],
      [0, 4, ['resnet:label1', 'resnet:parent1', 'resnet:model', 'resnet:parent2', 'resnet:parent3', 'resnet:parent4', 'resnet:label2', 'resnet:label3', 'resnet:label4', 'resnet:label5'], ['class 1 / alias', 'dog', 'm', 'animal', 'canine', 'carnivore']],
      [7, 2, ['resnet:label1', 'resnet:parent1', 'resnet:model'], ['class 1 / alias', 'dog', 'm']],
      [8, 2, ['resnet:label1', 'resnet:parent1'], ['class 1 / alias', 'dog']],
      [0, 0, ['resnet:label1', 'resnet:model', 'resnet:label2', 'resnet:label3', 'resnet:label4', 'resnet:label5'], ['class 1 / alias', 'm']],
    ])('%i user tags, %i parent tags', (n, maxParents, ours, values) => {
      const user = Array.from({ length: n }, (_, i) => ({ Key: `u${i}`, Value: `v${i}` }));
      const r = buildTagSet({ labels, parents }, 'm', [...user, { Key: 'resnet:parent7', Value: 'stale' }], { maxParents });
      expect(r.tagSet.slice(0, n)).toEqual(user);
      expect(r.tagSet.slice(n).map((t) => t.Key)).toEqual(ours);
      expect(r.tagSet.slice(n, n + values.length).map((t) => t.Value)).toEqual(values);
      expect(r.tagSet.length).toBeLessThanOrEqual(MAX_TAGS);
    });
    test('parentTagOrder: most specific, most general, then specific to general', () => {
      expect(parentTagOrder(parents, 9).map((p) => p.name)).toEqual(['dog', 'animal', 'canine', 'carnivore', 'mammal']);
      expect(parentTagOrder(parents.slice(0, 1), 2).map((p) => p.name)).toEqual(['animal']);
      expect(parentTagOrder([], 2)).toEqual([]);
    });
    test.each([
      [{}, { tagParents: 2, minConfidence: 50 }],
      [{ TAG_PARENTS: '0', MIN_CONFIDENCE: '72.5' }, { tagParents: 0, minConfidence: 72.5 }],
    ])('parentSettingsFromEnv(%j)', (env, expected) => {
      expect(parentSettingsFromEnv(env)).toEqual(expected);
    });
    test.each([[{ TAG_PARENTS: '10' }, /TAG_PARENTS/], [{ TAG_PARENTS: '-1' }, /TAG_PARENTS/], [{ MIN_CONFIDENCE: '101' }, /MIN_CONFIDENCE/], [{ MIN_CONFIDENCE: 'x' }, /MIN_CONFIDENCE/]])('rejects %j', (env, msg) => {
      expect(() => parentSettingsFromEnv(env)).toThrow(msg);
    });
  });

  test('an error gets resnet:error and the model', () => {
    expect(buildTagSet({ error: { code: 'CORRUPT_IMAGE' } }, 'm', []).tagSet).toEqual([
      { Key: 'resnet:error', Value: 'CORRUPT_IMAGE' },
      { Key: 'resnet:model', Value: 'm' },
    ]);
  });
});

describe('result documents', () => {
  const src: SourceRef = { bucket: 'b', key: 'a/cat.jpg', versionId: null, etag: 'e1', lastModified: '2026-01-01T00:00:01.000Z', size: 10 };
  const label = { rank: 1, index: 281, id: 'n02123045', name: 'tabby, tabby cat', score: 0.123456789 };
  test('resultKey layout, and hashing for keys near the 1024-byte limit', () => {
    expect(resultKey('resnet-results/', 'b', 'a/cat.jpg', 'resnet50-v2')).toBe('resnet-results/resnet50-v2/b/a/cat.jpg.json');
    const long = resultKey('resnet-results/', 'b', 'x'.repeat(1010), 'm');
    expect(long).toMatch(/^resnet-results\/m\/b\/_long\/[0-9a-f]{64}\.json$/);
  });
  test('stable body ignores timings, time, producer and sequencer; scores are rounded', () => {
    const a = buildResult(src, 'm', { labels: [label] }, { producer: 's3-tagger', sequencer: '01', timingsMs: { inference: 3.14159 }, labelledAt: 'x' });
    const b = buildResult(src, 'm', { labels: [{ ...label, score: 0.1234567891 }] }, { producer: 'batch', timingsMs: { inference: 9 }, labelledAt: 'y' });
    expect(stableBody(a)).toBe(stableBody(b));
    expect(serializeResult(a)).not.toBe(serializeResult(b));
    expect(a.labels![0]!.score).toBe(0.123457);
    expect(JSON.parse(serializeResult(a)).timingsMs).toEqual({ inference: 3.142 });
  });
  test('parents follow the labels, rounded; no parents, no field', () => {
    const parents = [{ rank: 1, id: 'n02121808', name: 'domestic cat', score: 0.876543219 }];
    const doc = buildResult(src, 'm', { labels: [label], parents });
    const json = JSON.parse(serializeResult(doc)) as Record<string, unknown>;
    expect(Object.keys(json).slice(7, 10)).toEqual(['model', 'labels', 'parents']);
    expect(json.parents).toEqual([{ rank: 1, id: 'n02121808', name: 'domestic cat', score: 0.876543 }]);
    expect(Object.keys(JSON.parse(stableBody(buildResult(src, 'm', { labels: [label], parents: [] }))) as object)).not.toContain('parents');
  });
  test('decideWrite: duplicate, newer, stale (Last-Modified, then sequencer)', () => {
    const stored = { ...src, schemaVersion: 1, model: 'm', sequencer: '0A' } as ResultDoc;
    expect(decideWrite(null, { ...src, model: 'm' })).toBe('write');
    expect(decideWrite(stored, { ...src, model: 'm' })).toBe('same');
    expect(decideWrite(stored, { ...src, model: 'other' })).toBe('write');
    expect(decideWrite(stored, { ...src, etag: 'e2', lastModified: '2026-01-01T00:00:02.000Z', model: 'm' })).toBe('write');
    expect(decideWrite(stored, { ...src, etag: 'e0', lastModified: '2026-01-01T00:00:00.000Z', model: 'm' })).toBe('stale');
    expect(decideWrite(stored, { ...src, etag: 'e0', model: 'm', sequencer: '09' })).toBe('stale');
    expect(decideWrite(stored, { ...src, etag: 'e2', model: 'm', sequencer: '0A01' })).toBe('write');
    expect(compareSequencers('0A', '0A00')).toBe(0);
  });
});

describe('event parsing', () => {
  test.each([
    ['red+flower+%C3%BC.jpg', 'red flower ü.jpg'],
    ['a%2Bb.jpg', 'a+b.jpg'],
    ['dir/sub/x%281%29.png', 'dir/sub/x(1).png'],
  ])('decodeS3Key(%j) = %j and back', (encoded, decoded) => {
    expect(decodeS3Key(encoded)).toBe(decoded);
    expect(decodeS3Key(encodeS3Key(decoded))).toBe(decoded);
  });
  test('SQS bodies: job, S3 test event, garbage', () => {
    expect(refsFromSqsRecord({ messageId: '1', body: '{"bucket":"b","key":"k 1"}' })).toEqual([{ bucket: 'b', key: 'k 1' }]);
    expect(refsFromSqsRecord({ messageId: '2', body: '{"Service":"Amazon S3","Event":"s3:TestEvent"}' })).toEqual([]);
    expect(() => refsFromSqsRecord({ messageId: '3', body: '{"bucket":"b"}' })).toThrow(/neither/);
  });
});

describe('isTransientS3Error', () => {
  test.each([
    [{ name: 'SlowDown', $metadata: { httpStatusCode: 503 } }, true],
    [{ name: 'InternalError', $metadata: { httpStatusCode: 500 } }, true],
    [{ name: 'NoSuchKey', $metadata: { httpStatusCode: 404 } }, false],
    [{ name: 'AccessDenied', $metadata: { httpStatusCode: 403 } }, false],
    [Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' }), true],
    [Object.assign(new Error('AWS SDK error wrapper for Error: socket hang up'), { $metadata: { attempts: 3 } }), true],
    [new Error('bug'), false],
  ])('%j → %s', (err, expected) => {
    expect(isTransientS3Error(err)).toBe(expected);
  });
});

describe('isValidObjectKey', () => {
  test.each([
    ['a plain key', 'photos/cat.jpg', true],
    ['unicode, spaces and +', 'photos/日本 猫+1.jpg', true],
    ['exactly 1,024 bytes', 'k'.repeat(1024), true],
    ['1,024 bytes of 3-byte characters and one more byte', `${'猫'.repeat(341)}k`, true],
    ['1,025 bytes', 'k'.repeat(1025), false],
    ['1,026 bytes in 342 characters', '猫'.repeat(342), false],
    ['a NUL', 'a\0b', false],
    ['empty', '', false],
  ])('%s → %s', (_name, key, ok) => {
    expect(isValidObjectKey(key)).toBe(ok);
  });
});
