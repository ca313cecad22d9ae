import { checkPostPolicy, policyMaxBytes, type PostForm } from '../../local/post-policy.js';

const NOW = new Date('2026-12-01T12:00:00Z');

function policy(conditions: unknown[], expiration = '2026-12-01T12:05:00Z'): string {
  return Buffer.from(JSON.stringify({ expiration, conditions })).toString('base64');
}

const CONDITIONS = [{ bucket: 'input' }, ['starts-with', '$key', 'uploads/'], ['content-length-range', 1, 100], ['starts-with', '$Content-Type', 'image/']];

function form(fields: Record<string, string>, fileSize = 10, bucket = 'input'): PostForm {
  return { bucket, fileSize, fields: new Map(Object.entries(fields).map(([k, v]) => [k.toLowerCase(), v])) };
}

const ok = { policy: policy(CONDITIONS), key: 'uploads/a.jpg', 'Content-Type': 'image/jpeg', 'X-Amz-Signature': 'ignored' };

describe('checkPostPolicy: S3 checks of a browser POST', () => {
  test('a form within every condition passes; field names match case-insensitively; x-ignore-* needs no condition', () => {
    expect(checkPostPolicy(form({ ...ok, 'CONTENT-TYPE': 'image/png', 'x-ignore-note': 'n' }), NOW)).toBeNull();
  });

  test.each<[string, PostForm, string, string]>([
    ['expired', form({ ...ok, policy: policy(CONDITIONS, '2026-12-01T11:59:59Z') }), 'AccessDenied', 'Invalid according to Policy: Policy expired.'],
    ['another bucket', form(ok, 10, 'other'), 'AccessDenied', 'Invalid according to Policy: Policy Condition failed: {"bucket":"input"}'],
    ['non-image type', form({ ...ok, 'Content-Type': 'text/html' }), 'AccessDenied', 'Invalid according to Policy: Policy Condition failed: ["starts-with","$Content-Type","image/"]'],
    ['key outside the prefix', form({ ...ok, key: 'resnet-results/x' }), 'AccessDenied', 'Invalid according to Policy: Policy Condition failed: ["starts-with","$key","uploads/"]'],
    ['unnamed field', form({ ...ok, acl: 'public-read' }), 'AccessDenied', 'Invalid according to Policy: Extra input fields: acl'],
    ['no policy', form({ key: 'uploads/a.jpg' }), 'AccessDenied', 'A POST upload needs a policy: ask the API for one (POST /uploads) and send its fields before the file.'],
    ['over the range', form(ok, 101), 'EntityTooLarge', 'Your proposed upload exceeds the maximum allowed size'],
    ['under the range', form(ok, 0), 'EntityTooSmall', 'Your proposed upload is smaller than the minimum allowed size'],
    ['not base64 JSON', form({ ...ok, policy: 'bm90IGpzb24=' }), 'InvalidPolicyDocument', 'Invalid Policy: the policy is not base64-encoded JSON.'],
    ['an unknown operator', form({ ...ok, policy: policy([['ends-with', '$key', '.jpg']]) }), 'InvalidPolicyDocument', 'Invalid Policy: Invalid condition: ["ends-with","$key",".jpg"].'],
  ])('%s', (_, f, code, message) => {
    expect(checkPostPolicy(f, NOW)).toMatchObject({ code, message });
  });

  test('EntityTooLarge names the proposed and allowed sizes; a non-ASCII value is escaped in a message', () => {
    expect(checkPostPolicy(form(ok, 101), NOW)?.detail).toEqual({ ProposedSize: 101, MaxSizeAllowed: 100 });
    const message = checkPostPolicy(form({ ...ok, policy: policy([{ key: 'uploads/ü.jpg' }]) }), NOW)?.message;
    expect(message).toBe('Invalid according to Policy: Policy Condition failed: {"key":"uploads/\\u00fc.jpg"}');
  });

  test('policyMaxBytes reads the range before the file arrives', () => {
    expect([policyMaxBytes(policy(CONDITIONS)), policyMaxBytes(policy([])), policyMaxBytes('%%'), policyMaxBytes(undefined)]).toEqual([100, undefined, undefined, undefined]);
  });
});
