import { loadConfig } from '../../infra/config.js';
import { InvalidContextError } from '../../infra/errors.js';
import { ortThreadsFor, sessionEnvironment } from '../../infra/session-sizing.js';

describe('ortThreadsFor', () => {
  it.each([
    [128, 1],
    [1769, 1],
    [2653, 1],
    [2654, 2],
    [3008, 2],
    [5307, 3],
    [8845, 5],
    [10240, 6],
  ])('%i MB → %i intra-op threads', (memoryMb, threads) => {
    expect(ortThreadsFor(memoryMb)).toBe(threads);
  });

  it('yields to an explicit ortThreads', () => {
    expect(sessionEnvironment(10240, 1)).toEqual({ ORT_THREADS: '1' });
    expect(sessionEnvironment(1769)).toEqual({ ORT_THREADS: '1' });
  });
});

describe('ortThreads context key', () => {
  const read = (ctx: Record<string, string>) => (k: string): unknown => ctx[k];
  it('is optional and parsed from a string', () => {
    expect(loadConfig(read({})).ortThreads).toBeUndefined();
    expect(loadConfig(read({ ortThreads: '3' })).ortThreads).toBe(3);
  });
  it.each(['0', '7', 'two'])('rejects %s', (v) => {
    expect(() => loadConfig(read({ ortThreads: v }))).toThrow(InvalidContextError);
  });
});
