/**
 * CPU time of the calling thread alone. `process.cpuUsage()` sums every thread; the batch worker
 * needs its event loop's own share, the part that does not scale with cores or GPUs.
 */
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';

/** Clock ticks per second of /proc's utime/stime (USER_HZ: 100 on every Linux ABI Node runs on). */
const USER_HZ = 100;

/**
 * This thread's CPU milliseconds so far (user + system), from /proc/thread-self/stat (Linux), or
 * null where that cannot be read.
 */
export function threadCpuMs(): number | null {
  try {
    const stat = readFileSync('/proc/thread-self/stat', 'utf8');
    // The command name (field 2) may contain spaces or parentheses: count fields after its last ')'.
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ticks = Number(f[11]) + Number(f[12]); // utime, stime: fields 14 and 15 of the whole line
    return Number.isFinite(ticks) ? (ticks * 1000) / USER_HZ : null;
  } catch {
    return null;
  }
}

/**
 * Measures this thread's busy milliseconds from now: its CPU time where the OS reports it, else the
 * event loop's active time (an upper bound: it also counts time the thread waited for a core).
 */
export function threadBusyMeter(): () => number {
  const cpu0 = threadCpuMs();
  const elu0 = performance.eventLoopUtilization();
  return () => {
    const cpu1 = cpu0 === null ? null : threadCpuMs();
    return cpu0 !== null && cpu1 !== null ? cpu1 - cpu0 : performance.eventLoopUtilization(elu0).active;
  };
}
