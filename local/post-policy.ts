/**
 * S3's checks of a browser POST upload against its policy, for the local S3 server (s3rver takes
 * the form's `policy` field and ignores it). What S3 checks and answers:
 * https://docs.aws.amazon.com/AmazonS3/latest/API/sigv4-HTTPPOSTConstructPolicy.html
 *
 * - no policy: 403 AccessDenied (the local bucket, like the stack's, is not public-writable);
 * - an expired policy or a failed `eq` / `starts-with` condition: 403 AccessDenied;
 * - a form field that no condition names: 403 AccessDenied ("Extra input fields");
 * - a file outside `content-length-range`: 400 EntityTooLarge or EntityTooSmall.
 *
 * The policy's signature is not verified: the local server accepts any credentials, as it does for
 * every other request, so a signature would prove nothing here. The conditions are what bound an
 * upload, and they are what this checks.
 */

/** A browser POST's form as S3 checks it. */
export interface PostForm {
  /** The bucket of the request (its URL), which `{"bucket": …}` conditions match. */
  bucket: string;
  /** Form fields before the file, names lower-cased (S3 matches field names case-insensitively). */
  fields: ReadonlyMap<string, string>;
  /** Bytes of the `file` field. */
  fileSize: number;
}

/** Why S3 refuses a POST: its error code, message and detail elements. */
export interface PolicyViolation {
  code: 'AccessDenied' | 'EntityTooLarge' | 'EntityTooSmall' | 'InvalidPolicyDocument';
  message: string;
  detail?: Record<string, string | number>;
}

/** Fields that no condition needs to name (S3: the signature, the policy, the file, `x-ignore-*`). */
const EXEMPT = new Set(['policy', 'x-amz-signature', 'file', 'signature', 'awsaccesskeyid']);

type Range = { min: number; max: number };
type Check = { name: string; test: (value: string) => boolean; source: unknown };

/** JSON with non-ASCII escaped: the message also travels in an HTTP header. */
function asciiJson(v: unknown): string {
  return JSON.stringify(v).replace(/[^\x20-\x7e]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

function invalid(why: string): PolicyViolation {
  return { code: 'InvalidPolicyDocument', message: `Invalid Policy: ${why}` };
}

function denied(why: string): PolicyViolation {
  return { code: 'AccessDenied', message: `Invalid according to Policy: ${why}` };
}

interface Parsed {
  expiration: number;
  checks: Check[];
  range: Range | undefined;
}

function fieldName(ref: unknown): string | null {
  return typeof ref === 'string' && ref.startsWith('$') && ref.length > 1 ? ref.slice(1).toLowerCase() : null;
}

/** Decodes a base64 policy document; a string is the reason it is invalid. */
function parsePolicy(encoded: string): Parsed | string {
  let doc: unknown;
  try {
    doc = JSON.parse(Buffer.from(encoded, 'base64').toString('utf8'));
  } catch {
    return 'the policy is not base64-encoded JSON.';
  }
  const { expiration, conditions } = (typeof doc === 'object' && doc !== null ? doc : {}) as { expiration?: unknown; conditions?: unknown };
  const expires = typeof expiration === 'string' ? Date.parse(expiration) : NaN;
  if (Number.isNaN(expires)) return "Invalid 'expiration' value.";
  if (!Array.isArray(conditions)) return "Invalid 'conditions' value.";
  const checks: Check[] = [];
  let range: Range | undefined;
  for (const c of conditions as unknown[]) {
    if (Array.isArray(c) && c.length === 3 && typeof c[0] === 'string') {
      const op = c[0].toLowerCase();
      if (op === 'content-length-range') {
        const [, min, max] = c as [string, unknown, unknown];
        if (!Number.isInteger(min) || !Number.isInteger(max)) return `Invalid content-length-range condition: ${asciiJson(c)}.`;
        range = { min: min as number, max: max as number };
        continue;
      }
      const name = fieldName(c[1]);
      const want = c[2];
      if ((op !== 'eq' && op !== 'starts-with') || name === null || typeof want !== 'string') return `Invalid condition: ${asciiJson(c)}.`;
      checks.push({ name, test: op === 'eq' ? (v) => v === want : (v) => v.startsWith(want), source: c });
    } else if (typeof c === 'object' && c !== null && !Array.isArray(c) && Object.keys(c).length === 1) {
      const [[name, want]] = Object.entries(c) as [[string, unknown]];
      if (typeof want !== 'string') return `Invalid condition: ${asciiJson(c)}.`;
      checks.push({ name: name.toLowerCase(), test: (v) => v === want, source: c });
    } else {
      return `Invalid condition: ${asciiJson(c)}.`;
    }
  }
  return { expiration: expires, checks, range };
}

/**
 * The largest file the form's policy allows, read before the file arrives (so a server can stop
 * buffering an upload it will refuse); undefined when the policy is missing, invalid or unbounded.
 */
export function policyMaxBytes(encoded: string | undefined): number | undefined {
  if (encoded === undefined) return undefined;
  const parsed = parsePolicy(encoded);
  return typeof parsed === 'string' ? undefined : parsed.range?.max;
}

/** Checks a POST form against its policy as S3 does; null when S3 would store the file. */
export function checkPostPolicy(form: PostForm, now: Date = new Date()): PolicyViolation | null {
  const encoded = form.fields.get('policy');
  if (encoded === undefined) {
    return { code: 'AccessDenied', message: 'A POST upload needs a policy: ask the API for one (POST /uploads) and send its fields before the file.' };
  }
  const parsed = parsePolicy(encoded);
  if (typeof parsed === 'string') return invalid(parsed);
  if (parsed.expiration <= now.getTime()) return denied('Policy expired.');
  const named = new Set<string>();
  for (const check of parsed.checks) {
    named.add(check.name);
    const value = check.name === 'bucket' ? form.bucket : (form.fields.get(check.name) ?? '');
    if (!check.test(value)) return denied(`Policy Condition failed: ${asciiJson(check.source)}`);
  }
  const extra = [...form.fields.keys()].filter((f) => !EXEMPT.has(f) && !f.startsWith('x-ignore-') && !named.has(f));
  if (extra.length > 0) return denied(`Extra input fields: ${asciiJson(extra.join(', ')).slice(1, -1)}`);
  const { range } = parsed;
  if (range !== undefined && form.fileSize > range.max) {
    return { code: 'EntityTooLarge', message: 'Your proposed upload exceeds the maximum allowed size', detail: { ProposedSize: form.fileSize, MaxSizeAllowed: range.max } };
  }
  if (range !== undefined && form.fileSize < range.min) {
    return { code: 'EntityTooSmall', message: 'Your proposed upload is smaller than the minimum allowed size', detail: { ProposedSize: form.fileSize, MinSizeAllowed: range.min } };
  }
  return null;
}
