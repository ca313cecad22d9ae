/** Types of the verified downloader: what to fetch, from where, how, and what came back. */

/** Called as bytes arrive: `done` bytes of `total` (0 when the size is unknown). */
export type ProgressCallback = (done: number, total: number) => void;

/** One place a file can be downloaded from, with what the bytes there must match. */
export interface FileSource {
  /** http(s) URL; redirects are followed. */
  readonly url: string;
  /** Exact size in bytes, when known. */
  readonly bytes?: number;
  /** Expected sha256, lower-case hex: 64 digits, or a prefix of them (compared as a prefix). */
  readonly sha256?: string;
  /** Expected MD5, 32 hex digits. */
  readonly md5?: string;
  /** URL of a text file whose first token is the MD5 (the zoo's `-md5.txt`); read before the download. */
  readonly md5Url?: string;
}

/** A file to download: sources tried in order, plus an optional content check. */
export interface FileSpec {
  /** What the file is, for messages (`resnet50-v2 model`). */
  readonly name: string;
  readonly sources: readonly FileSource[];
  /** Extra check of the downloaded file (e.g. labels parse to 1000 classes); throws to reject it. */
  readonly validate?: (filePath: string) => Promise<void>;
  /** What `validate` expects, for the manual-placement hint (`1000 lines "<wnid> <name>"`). */
  readonly expect?: string;
  /** Files that must be placed along with this one, named in the same hint (labels → model). */
  readonly alsoNeeded?: readonly { spec: FileSpec; dest: string }[];
}

/** Transfer tuning; the defaults suit a 100–250 MB file over a flaky link. */
export interface FetchFileOptions {
  onProgress?: ProgressCallback;
  /** Attempts per source for transient failures (connection reset, 5xx, stall, truncation). @default 5 */
  maxAttempts?: number;
  /** First backoff delay in ms, doubled per retry, capped at 8 s, ±25 % jitter. @default 500 */
  retryDelayMs?: number;
  /** Abort an attempt when no byte arrives for this many ms. @default 30000 */
  stallTimeoutMs?: number;
  /** Redirect hops followed per request. @default 5 */
  maxRedirects?: number;
  /**
   * How long to wait while another process (or call) downloads the same file; it holds
   * `<dest>.lock`, and its result is used when it finishes. @default 1800000 (30 min)
   */
  lockWaitMs?: number;
}

/** The transfer settings of one download, defaults filled in. */
export type TransferOptions = Required<Omit<FetchFileOptions, 'onProgress' | 'lockWaitMs'>> & { onProgress?: ProgressCallback };

/** A verified file in its final place. */
export interface FetchedFile {
  path: string;
  bytes: number;
  /** Full sha256 of the file, lower-case hex. */
  sha256: string;
  /** The URL it came from ('' when an existing file was verified instead). */
  url: string;
  /** Strongest check that passed. */
  verifiedBy: VerifiedBy;
  /** HTTP requests made for the file body (0 for a cache hit). */
  requests: number;
  /** Whether a later request continued a partial body with Range. */
  resumed: boolean;
}

export type VerifiedBy = 'sha256' | 'sha256-prefix' | 'md5' | 'size' | 'content';
