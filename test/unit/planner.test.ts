import { describe, expect, test } from '@jest/globals';

import { formatPlan, planBacklog, plannerOptionsFromEnv } from '../../labelling/planner.js';
import { ResnetError } from '../../core/errors.js';

describe('planBacklog', () => {
  const opts = { lambdaMaxObjects: 5000, imagesPerSecondPerJob: 300, targetRunSeconds: 3600, startupSeconds: 120 };

  test.each([
    [0, 'lambda', 0],
    [1, 'lambda', 0],
    [5000, 'lambda', 0],
    [5001, 'batch', 1],
    // one child does 300 * (3600 - 120) = 1,044,000 images in the target time
    [1_044_000, 'batch', 1],
    [1_044_001, 'batch', 2],
    [10_000_000, 'batch', 10],
    [50_000_000, 'batch', 48],
  ])('%i objects → %s, array size %i', (count, mode, arraySize) => {
    const plan = planBacklog(count, opts);
    expect(plan.mode).toBe(mode);
    expect(plan.arraySize).toBe(arraySize);
    expect(plan.count).toBe(count);
    expect(plan.reason.length).toBeGreaterThan(10);
  });

  test('the estimate meets the target run time', () => {
    const plan = planBacklog(10_000_000, opts);
    expect(plan.estimatedSeconds).toBeLessThanOrEqual(3600);
    expect(plan.estimatedSeconds).toBeGreaterThan(3000);
  });

  test('caps the array size and says so', () => {
    const plan = planBacklog(1e12, { ...opts, maxArraySize: 10_000 });
    expect(plan.arraySize).toBe(10_000);
    expect(plan.reason).toContain('capped at 10000');
  });

  test.each([[-1], [1.5], [Number.NaN]])('rejects count %p', (n) => {
    expect(() => planBacklog(n)).toThrow(ResnetError);
  });

  test('rejects a non-positive rate', () => {
    expect(() => planBacklog(10, { imagesPerSecondPerJob: 0 })).toThrow(/imagesPerSecondPerJob/);
  });

  test('reads BACKLOG_THRESHOLD and friends from the environment', () => {
    expect(plannerOptionsFromEnv({ BACKLOG_THRESHOLD: '100', BATCH_IMAGES_PER_SECOND: '50' })).toEqual({ lambdaMaxObjects: 100, imagesPerSecondPerJob: 50 });
    expect(planBacklog(101, plannerOptionsFromEnv({ BACKLOG_THRESHOLD: '100' })).mode).toBe('batch');
    expect(() => plannerOptionsFromEnv({ BACKLOG_THRESHOLD: 'lots' })).toThrow(/BACKLOG_THRESHOLD/);
  });

  test('dry-run text names mode, size and reason', () => {
    const text = formatPlan(planBacklog(2_000_000, opts));
    expect(text).toMatch(/mode:\s+batch/);
    expect(text).toMatch(/arraySize:\s+2/);
    expect(text).toMatch(/reason:/);
  });
});
