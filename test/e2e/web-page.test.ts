/**
 * The local stack's page in headless Chromium (playwright-core): model facts on load, classify
 * by choosing, dropping and pasting (a corrupt file and a text file among them), the S3 upload
 * followed to its tags and result under a unicode key, recent results with keys holding spaces,
 * `+` and unicode, paging and the label filter, keyboard use, contrast and a phone-width window.
 * Screenshots go to $SCREENSHOT_DIR (default: a new temp folder); UPDATE_SCREENSHOT=1 also writes
 * docs/web-page.png.
 */
import { catJpeg, gradientJpeg, testClassifier, TEST_MODEL_ID, TEXT_BYTES, truncatedJpeg } from '../integration/functions-harness.js';

import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

import { GetObjectTaggingCommand, ListObjectsV2Command, PutObjectCommand } from '@aws-sdk/client-s3';
import { chromium, type Browser, type Page } from 'playwright-core';

import type { Classifier } from '../../core/classifier.js';
import { ResnetError } from '../../core/errors.js';
import { imagenetHierarchy } from '../../core/hierarchy/hierarchy.js';
import { readResult, type ResultDoc } from '../../labelling/results.js';
import { listResults, matchesLabel } from '../../local/recent-results.js';
import { startLocalStack, type LocalStack } from '../../local/stack.js';
import { REPO_ROOT } from '../helpers/paths.js';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
// Debian's chromium (apt-get install chromium); without it this suite says so and skips.
const maybe = existsSync(CHROMIUM) ? describe : describe.skip;
if (!existsSync(CHROMIUM)) console.warn(`web page test skipped: ${CHROMIUM} not found (apt-get install chromium)`);

const DESKTOP = { width: 1100, height: 900 };
const PHONE = { width: 390, height: 844 };

/** Contrast ratio (WCAG 2) of an element's text colour against the first opaque background behind it. */
function contrastOf(page: Page, selector: string): Promise<number> {
  return page.locator(selector).first().evaluate((node) => {
    const rgb = (c: string): number[] => (c.match(/[\d.]+/g) ?? []).map(Number);
    const lum = (c: number[]): number => {
      const [r, g, b] = c.slice(0, 3).map((v) => {
        const s = v / 255;
        return s <= 0.03928 ? s / 12.92 : ((s + 0.055) / 1.055) ** 2.4;
      });
      return 0.2126 * r! + 0.7152 * g! + 0.0722 * b!;
    };
    type Styled = { parentElement: Styled | null };
    const style = (e: Styled) => (globalThis as unknown as { getComputedStyle(e: Styled): { color: string; backgroundColor: string } }).getComputedStyle(e);
    const fg = rgb(style(node as unknown as Styled).color);
    let e: Styled | null = node as unknown as Styled;
    let bg = [255, 255, 255];
    for (; e; e = e.parentElement) {
      const c = rgb(style(e).backgroundColor);
      if (c.length === 3 || (c.length === 4 && c[3]! > 0)) {
        bg = c;
        break;
      }
    }
    const [hi, lo] = [lum(fg), lum(bg)].sort((a, b) => b - a);
    return (hi! + 0.05) / (lo! + 0.05);
  });
}

/** Waits until every classification the page has queued (S3 follow-ups included) is done. */
async function settled(page: Page): Promise<void> {
  await page.evaluate(() => (globalThis as unknown as { resnetPage: { idle(): Promise<void> } }).resnetPage.idle());
}

/** Waits until every <img> in `selector` has loaded; returns their natural widths. */
async function thumbnailWidths(page: Page, selector: string): Promise<number[]> {
  await page.waitForFunction(
    (sel) => Array.from((globalThis as unknown as { document: { querySelectorAll(s: string): ArrayLike<{ complete: boolean }> } }).document.querySelectorAll(sel)).every((i) => i.complete),
    selector,
  );
  return page.locator(selector).evaluateAll((imgs) => imgs.map((i) => (i as unknown as { naturalWidth: number }).naturalWidth));
}

maybe('local stack web page in headless Chromium', () => {
  let stack: LocalStack;
  let classifier: Classifier;
  let browser: Browser;
  let dir: string;
  let shots: string;

  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'web-'));
    shots = process.env.SCREENSHOT_DIR ?? (await mkdtemp(path.join(os.tmpdir(), 'web-page-shots-')));
    await mkdir(shots, { recursive: true });
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

  // Requests to anything but the stack's API and S3 (the page must work offline).
  const external: string[] = [];
  async function open(query = '', viewport = DESKTOP): Promise<Page> {
    const page = await browser.newPage({ viewport });
    page.on('request', (r) => {
      const u = new URL(r.url());
      if (!['blob:', 'data:'].includes(u.protocol) && u.origin !== stack.apiUrl && u.origin !== stack.s3Endpoint) external.push(r.url());
    });
    await page.goto(`${stack.apiUrl}/${query}`);
    await page.waitForFunction(() => (globalThis as unknown as { document: { getElementById(id: string): { textContent: string } } }).document.getElementById('model-id').textContent !== 'loading…');
    return page;
  }

  test('on load: the served model, its input size and label count, and the untrained warning with the fetch command', async () => {
    const page = await open();
    const info = classifier.info;
    expect(info.untrained).toBe(true);
    expect(await page.textContent('#model-id')).toBe(`${TEST_MODEL_ID} untrained`);
    expect(await page.textContent('#model-input')).toBe(`${info.inputSize} × ${info.inputSize} px`);
    expect(await page.textContent('#model-classes')).toBe(info.numClasses.toLocaleString('en'));
    expect(await page.isVisible('#untrained')).toBe(true);
    expect(await page.textContent('#fetch-command')).toBe('npx resnet fetch resnet18-v2');
    expect(await page.textContent('#restart-command')).toBe('npm start -- --model resnet18-v2');
    await page.close();
  });

  test('choosing several images: a card each with thumbnail, top-5 bars and timings; a corrupt and a text file show their typed errors', async () => {
    const page = await open();
    const cat = await catJpeg();
    const broken = await truncatedJpeg();
    await page.setInputFiles('#file', [
      { name: 'cat.jpg', mimeType: 'image/jpeg', buffer: cat },
      { name: 'broken.jpg', mimeType: 'image/jpeg', buffer: broken },
      { name: 'notes.txt', mimeType: 'text/plain', buffer: TEXT_BYTES },
    ]);
    await settled(page);
    const cards = page.locator('#results > .card');
    expect(await cards.count()).toBe(3);
    // Newest first: notes.txt, broken.jpg, cat.jpg.
    const catCard = cards.filter({ hasText: 'cat.jpg' });
    const expected = await classifier.classify(new Uint8Array(cat), { top: 5 });
    expect(await catCard.locator('.labels:not(.parents) .label .name').allTextContents()).toEqual(expected.labels.map((l) => l.name));
    expect(await catCard.locator('.labels:not(.parents) .label .score').allTextContents()).toEqual(expected.labels.map((l) => `${(100 * l.score).toFixed(l.score >= 0.1 ? 1 : 2)}%`));
    expect(await catCard.locator('.parents .label .name').allTextContents()).toEqual(expected.parents.map((p) => p.name));
    const widths = await catCard.locator('.labels:not(.parents) .bar').evaluateAll((bars) => bars.map((b) => (b as unknown as { getBoundingClientRect(): { width: number } }).getBoundingClientRect().width));
    expect([...widths].sort((a, b) => b - a)).toEqual(widths);
    expect(await catCard.locator('.timings dt').allTextContents()).toEqual(['decode', 'preprocess', 'inference', 'postprocess', 'total']);
    expect((await thumbnailWidths(page, '#results > .card:last-child .thumb img'))[0]).toBeGreaterThan(0);

    const corrupt = await classifier.classify(new Uint8Array(broken)).then(
      () => null,
      (err: unknown) => err as ResnetError,
    );
    expect(corrupt).toBeInstanceOf(ResnetError);
    const brokenCard = cards.filter({ hasText: 'broken.jpg' });
    expect(await brokenCard.locator('.error .code').textContent()).toBe(corrupt!.code);
    expect(await brokenCard.locator('.error .message').textContent()).toBe(corrupt!.message);
    const textCard = cards.filter({ hasText: 'notes.txt' });
    expect(await textCard.locator('.error .code').textContent()).toBe('UNSUPPORTED_MEDIA_TYPE');
    await textCard.locator('.no-preview').waitFor(); // the browser cannot show it either
    expect(await page.getAttribute('#results', 'aria-live')).toBe('polite');
    await page.screenshot({ path: path.join(shots, 'classify.png'), fullPage: true });

    // The page still works after the errors.
    await page.setInputFiles('#file', [{ name: 'gradient.jpg', mimeType: 'image/jpeg', buffer: await gradientJpeg() }]);
    await settled(page);
    expect(await cards.count()).toBe(4);
    expect(await cards.first().locator('.label').count()).toBe(5);
    await page.close();
  }, 90_000);

  test('dropping and pasting images classifies each of them', async () => {
    const page = await open();
    const jpeg = (await gradientJpeg(256, 200, 3)).toString('base64');
    await page.evaluate(
      ({ b64 }) => {
        const g = globalThis as unknown as {
          DataTransfer: new () => { items: { add(f: unknown): void } };
          File: new (parts: unknown[], name: string, o: { type: string }) => unknown;
          DragEvent: new (t: string, o: unknown) => unknown;
          ClipboardEvent: new (t: string, o: unknown) => unknown;
          Uint8Array: typeof Uint8Array;
          atob(s: string): string;
          document: { getElementById(id: string): { dispatchEvent(e: unknown): void }; dispatchEvent(e: unknown): void };
        };
        const bytes = g.Uint8Array.from(g.atob(b64), (c) => c.charCodeAt(0));
        const transfer = (...names: string[]) => {
          const dt = new g.DataTransfer();
          for (const n of names) dt.items.add(new g.File([bytes], n, { type: 'image/jpeg' }));
          return dt;
        };
        g.document.getElementById('drop').dispatchEvent(new g.DragEvent('drop', { dataTransfer: transfer('dropped-1.jpg', 'dropped-2.jpg'), bubbles: true, cancelable: true }));
        g.document.dispatchEvent(new g.ClipboardEvent('paste', { clipboardData: transfer('pasted.jpg'), bubbles: true, cancelable: true }));
      },
      { b64: jpeg },
    );
    await settled(page);
    expect(await page.locator('#results > .card h3').allTextContents()).toEqual([expect.stringContaining('pasted.jpg'), expect.stringContaining('dropped-2.jpg'), expect.stringContaining('dropped-1.jpg')]);
    for (const card of await page.locator('#results > .card').all()) expect(await card.locator('.label').count()).toBe(5);
    await page.close();
  }, 90_000);

  test('"Also upload to S3" shows the stored object, then its tags and result, under the unicode key exactly as stored', async () => {
    const page = await open();
    await page.check('#viaS3');
    await page.setInputFiles('#file', [{ name: 'Ünïcødé 猫 chat.jpg', mimeType: 'image/jpeg', buffer: await catJpeg() }]);
    await settled(page);
    const card = page.locator('#results > .card').first();
    const listed = await stack.s3.send(new ListObjectsV2Command({ Bucket: stack.bucket, Prefix: 'uploads/' }));
    const key = listed.Contents!.map((o) => o.Key!).find((k) => k.endsWith('猫-chat.jpg'))!;
    expect(key).toMatch(/Ünïcødé-猫-chat\.jpg$/);
    expect(await card.locator('.s3 .key').textContent()).toBe(key);
    expect(await card.locator('.s3 .stored').textContent()).toBe(`Stored: ${((await catJpeg()).length / 1e3).toFixed(1)} kB, image/jpeg`);
    const tags = (await stack.s3.send(new GetObjectTaggingCommand({ Bucket: stack.bucket, Key: key }))).TagSet!;
    const shown = await card.locator('.s3 .tags div').evaluateAll((rows) => rows.map((r) => (r as unknown as { innerText: string }).innerText.split('\n').join(' ')));
    expect(shown.sort()).toEqual(tags.map((t) => `${t.Key} ${t.Value}`).sort());
    const doc = (await readResult(stack.s3, stack.bucket, `${stack.resultsPrefix}${stack.modelId}/${stack.bucket}/${key}.json`))!.doc;
    expect(await card.locator('.s3 .result strong').textContent()).toBe(doc.labels![0]!.name);
    await page.waitForSelector('#recent .card');
    expect(await page.locator('#recent .key').first().textContent()).toBe(key);
    await page.screenshot({ path: path.join(shots, 'upload.png'), fullPage: true });
    await page.close();
  }, 90_000);

  test('parents with their bars, with the page\'s ?minConfidence passed on to /classify', async () => {
    const cat = await catJpeg();
    const all = await classifier.classify(new Uint8Array(cat), { top: 5, labels: { minConfidence: 0 } });
    // A threshold just under the third-best parent: at least three parents, however the seeded model scores.
    const threshold = Math.floor(all.parents[2]!.score * 1e5) / 1e3;
    const expected = await classifier.classify(new Uint8Array(cat), { top: 5, labels: { minConfidence: threshold } });
    const page = await open(`?minConfidence=${threshold}`);
    await page.setInputFiles('#file', [{ name: 'cat.jpg', mimeType: 'image/jpeg', buffer: cat }]);
    await settled(page);
    const card = page.locator('#results > .card').first();
    expect(await card.locator('.parents .label .name').allTextContents()).toEqual(expected.parents.map((p) => p.name));
    expect(expected.parents.length).toBeGreaterThanOrEqual(3);
    const widths = await card.locator('.parents .bar').evaluateAll((bars) => bars.map((b) => (b as unknown as { getBoundingClientRect(): { width: number } }).getBoundingClientRect().width));
    expect(widths[0]).toBeGreaterThan(0);
    expect([...widths].sort((a, b) => b - a)).toEqual(widths);
    expect(await card.locator('.labels:not(.parents) .label .name').allTextContents()).toEqual(expected.labels.map((l) => l.name));
    await page.close();
  });

  test('recent results: keys with spaces, + and unicode as stored, thumbnails, paging and the label filter', async () => {
    const keys = ['photos/a b+c.jpg', 'photos/日本 猫+1.jpg', 'photos/plain-1.jpg', 'photos/plain-2.jpg'];
    for (const [i, key] of keys.entries()) {
      await stack.s3.send(new PutObjectCommand({ Bucket: stack.bucket, Key: key, Body: await gradientJpeg(240, 180, i + 7), ContentType: 'image/jpeg' }));
    }
    await stack.idle();
    const prefix = `${stack.resultsPrefix}${stack.modelId}/${stack.bucket}/`;
    const entries = await listResults(stack.s3, stack.bucket, prefix);
    const docs = new Map<string, ResultDoc>();
    for (const e of entries) docs.set(e.key, (await readResult(stack.s3, stack.bucket, e.key))!.doc);
    const newestFirst = entries.map((e) => docs.get(e.key)!.key);
    expect(newestFirst).toEqual(expect.arrayContaining(keys));

    // Paging, three a page, through every result.
    const page = await open('?pageSize=3');
    const seen: string[] = [];
    for (let n = 1; ; n++) {
      await page.waitForFunction((p) => (globalThis as unknown as { document: { getElementById(id: string): { textContent: string } } }).document.getElementById('page-info').textContent === `Page ${p}`, n);
      const onPage = await page.locator('#recent .key').allTextContents();
      expect(onPage.length).toBeLessThanOrEqual(3);
      seen.push(...onPage);
      expect(Math.min(...(await thumbnailWidths(page, '#recent .thumb img')))).toBeGreaterThan(0);
      if (await page.isDisabled('#older')) break;
      await page.click('#older');
    }
    expect(seen).toEqual(newestFirst);
    // Label names wrap instead of being cut ("untrained-cl…" made different labels look alike).
    const cut = await page.locator('#recent .label .name').evaluateAll((els) =>
      els.filter((e) => { const b = e as unknown as { scrollWidth: number; clientWidth: number }; return b.scrollWidth > b.clientWidth + 1; }).length);
    expect(cut).toBe(0);
    // The route the upload card polls finds these keys too, with their tags and result.
    for (const key of keys.slice(0, 2)) {
      const o = (await page.evaluate(async (k) => (await fetch(`/objects/${encodeURIComponent(k)}`)).json(), key)) as { tags: unknown[] };
      expect(o).toMatchObject({ key, object: { contentType: 'image/jpeg' }, result: { key, model: TEST_MODEL_ID } });
      expect(o.tags).toEqual(expect.arrayContaining([{ key: 'resnet:model', value: TEST_MODEL_ID }]));
    }
    await page.click('#newer');
    await page.waitForFunction(() => (globalThis as unknown as { document: { getElementById(id: string): { textContent: string } } }).document.getElementById('page-info').textContent !== '');

    // The filter: the top label of the key with a space and a +.
    const label = docs.get(`${prefix}photos/a b+c.jpg.json`)!.labels![0]!.name;
    const filtered = await open('?pageSize=100');
    await filtered.fill('#label-filter', label);
    await filtered.press('#label-filter', 'Enter');
    await filtered.waitForFunction((l) => (globalThis as unknown as { document: { getElementById(id: string): { textContent: string } } }).document.getElementById('recent-summary').textContent.includes(l), label);
    const shownKeys = await filtered.locator('#recent .key').allTextContents();
    expect(shownKeys).toEqual([...docs.values()].filter((d) => matchesLabel(d, label)).map((d) => d.key).sort((a, b) => newestFirst.indexOf(a) - newestFirst.indexOf(b)));
    expect(shownKeys).toContain('photos/a b+c.jpg');
    const unicode = filtered.locator('#recent .card').filter({ hasText: 'photos/日本 猫+1.jpg' });
    if ((await unicode.count()) === 0) {
      await filtered.fill('#label-filter', docs.get(`${prefix}photos/日本 猫+1.jpg.json`)!.labels![0]!.name);
      await filtered.press('#label-filter', 'Enter');
      await unicode.waitFor();
    }
    expect(await unicode.locator('.model-name').textContent()).toBe(TEST_MODEL_ID);
    // An ancestor of the best label finds it too ("dog" finds every breed).
    const ancestor = imagenetHierarchy().ancestors(docs.get(`${prefix}photos/a b+c.jpg.json`)!.labels![0]!.id)[0]!.name;
    await filtered.fill('#label-filter', ancestor);
    await filtered.press('#label-filter', 'Enter');
    await filtered.waitForFunction((l) => (globalThis as unknown as { document: { getElementById(id: string): { textContent: string } } }).document.getElementById('recent-summary').textContent.includes(l), ancestor);
    const byAncestor = await filtered.locator('#recent .key').allTextContents();
    expect(byAncestor).toContain('photos/a b+c.jpg');
    expect(byAncestor).toEqual([...docs.values()].filter((d) => matchesLabel(d, ancestor)).map((d) => d.key).sort((a, b) => newestFirst.indexOf(a) - newestFirst.indexOf(b)));
    await filtered.close();
    await page.close();
  }, 120_000);

  test('keyboard, labels, contrast and a phone-width window; the screenshots', async () => {
    const page = await open('', PHONE);
    // Every control has an accessible name, and Tab reaches them in order.
    for (const name of ['Images to classify', /Also upload to S3/, 'Filter by label']) expect(await page.getByLabel(name).count()).toBe(1);
    const order: string[] = [];
    for (let i = 0; i < 8; i++) {
      await page.keyboard.press('Tab');
      order.push(await page.evaluate(() => (globalThis as unknown as { document: { activeElement: { id: string } } }).document.activeElement.id));
    }
    expect(order.indexOf('file')).toBeGreaterThanOrEqual(0);
    expect(order.indexOf('viaS3')).toBeGreaterThan(order.indexOf('file'));
    expect(order.indexOf('label-filter')).toBeGreaterThan(order.indexOf('viaS3'));
    // Space on the focused checkbox ticks it (so the cards below also show their long S3 keys).
    await page.focus('#viaS3');
    await page.keyboard.press('Space');
    expect(await page.isChecked('#viaS3')).toBe(true);

    await page.setInputFiles('#file', [
      { name: 'cat.jpg', mimeType: 'image/jpeg', buffer: await catJpeg() },
      { name: 'broken.jpg', mimeType: 'image/jpeg', buffer: await truncatedJpeg() },
    ]);
    await settled(page);
    const ratios: [string, number][] = [];
    for (const sel of ['h1', '.muted', '.warning', '.warning code', '.error .message', '.error .code', '.label .name', 'button', '.badge', 'footer code']) ratios.push([sel, await contrastOf(page, sel)]);
    expect(ratios.filter(([, r]) => r < 4.5)).toEqual([]);
    // No sideways scrolling at phone width.
    expect(await page.evaluate(() => (globalThis as unknown as { document: { documentElement: { scrollWidth: number } } }).document.documentElement.scrollWidth)).toBeLessThanOrEqual(PHONE.width);
    await page.screenshot({ path: path.join(shots, 'phone.png'), fullPage: true });
    await page.close();

    const desk = await open('?pageSize=6');
    await desk.check('#viaS3');
    await desk.setInputFiles('#file', [
      { name: 'cat.jpg', mimeType: 'image/jpeg', buffer: await catJpeg() },
      { name: 'broken.jpg', mimeType: 'image/jpeg', buffer: await truncatedJpeg() },
    ]);
    await settled(desk);
    await thumbnailWidths(desk, 'img');
    await desk.screenshot({ path: path.join(shots, 'desktop.png'), fullPage: true });
    if (process.env.UPDATE_SCREENSHOT === '1') await desk.screenshot({ path: path.join(REPO_ROOT, 'docs/web-page.png'), fullPage: true });
    await desk.close();
    expect(external).toEqual([]);
  }, 90_000);
});
