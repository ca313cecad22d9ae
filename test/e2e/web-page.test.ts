import { testClassifier, TEST_MODEL_ID } from '../integration/functions-harness.js';

import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

import { chromium, type Browser } from 'playwright-core';

import type { Classifier } from '../../core/classifier.js';
import { startLocalStack, type LocalStack } from '../../local/stack.js';
import { SHARED_IMAGES } from '../helpers/paths.js';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
// Debian's chromium (apt-get install chromium); without it this suite says so and skips.
const maybe = existsSync(CHROMIUM) ? describe : describe.skip;
if (!existsSync(CHROMIUM)) console.warn(`web page test skipped: ${CHROMIUM} not found (apt-get install chromium)`);

maybe('local stack web page in headless Chromium', () => {
  let stack: LocalStack;
  let classifier: Classifier;
  let browser: Browser;
  let dir: string;

  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'web-'));
    classifier = await testClassifier();
    stack = await startLocalStack({ classifier, port: 0, s3Port: 0, dataDir: dir });
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
  }, 180_000);
  afterAll(async () => {
    await browser?.close();
    await stack?.close();
    await classifier?.dispose();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  test('choosing an image shows five bars, and the S3 upload appears under recent results', async () => {
    const page = await browser.newPage();
    await page.goto(stack.apiUrl);
    await page.check('#viaS3');
    await page.setInputFiles('#file', path.join(SHARED_IMAGES, 'cat.jpg'));
    await page.waitForSelector('#labels .label:nth-child(5)', { timeout: 30_000 });
    const expected = await classifier.classify(new Uint8Array(await import('node:fs/promises').then((f) => f.readFile(path.join(SHARED_IMAGES, 'cat.jpg')))), { top: 5 });
    expect(await page.locator('#labels .label .name').allTextContents()).toEqual(expected.labels.map((l) => l.name));
    const widths = await page.locator('#labels .bar').evaluateAll((bars) => bars.map((b) => (b as unknown as { getBoundingClientRect(): { width: number } }).getBoundingClientRect().width));
    expect([...widths].sort((a, b) => b - a)).toEqual(widths); // bars shrink with rank
    expect(await page.textContent('#model')).toBe(TEST_MODEL_ID);
    await page.waitForSelector('#recent li', { timeout: 30_000 });
    expect(await page.locator('#recent li').first().textContent()).toContain('cat.jpg');
    await page.screenshot({ path: path.join(dir, 'page.png') });
  }, 90_000);
});
