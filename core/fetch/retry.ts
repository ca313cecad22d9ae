/** Waiting between tries: the back-off after a failed attempt, the poll while another process holds the lock. */

/** Resolves after `ms` milliseconds. */
export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Delay before try `attemptNo + 1`: `base` doubled per try, at most 8 s, ±25 % jitter. @returns ms */
export function backoff(base: number, attemptNo: number): number {
  const d = Math.min(base * 2 ** (attemptNo - 1), 8000);
  return d * (0.75 + Math.random() * 0.5);
}
