/** The local stack's recent results: pages over the newest-first listing, and the label filter. */
import type { ResultDoc } from '../../labelling/results.js';
import { matchesLabel, readPage, type ResultEntry } from '../../local/recent-results.js';

function doc(key: string, names: string[] | { code: string }): ResultDoc {
  const base = { schemaVersion: 1, bucket: 'b', key, versionId: null, etag: 'e', lastModified: '2026-01-01T00:00:00.000Z', size: 1, model: 'm' };
  if (!Array.isArray(names)) return { ...base, error: { code: names.code, message: 'x' } };
  return { ...base, labels: names.map((name, i) => ({ rank: i + 1, index: i, id: `n0${i}`, name, score: 0.5 / (i + 1) })) };
}

describe('matchesLabel', () => {
  test.each([
    ['tabby', true],
    ['TABBY', true],
    ['  cat ', true],
    ['n01', true],
    ['n0', false],
    ['dog', false],
    ['', true],
  ])('"%s" → %s', (q, want) => {
    expect(matchesLabel(doc('k', ['tabby, tabby cat', 'tiger cat']), q)).toBe(want);
  });

  test('matches WordNet ancestors of the best label by name, alias or id, and stored parents', () => {
    const collie = { ...doc('k', []), labels: [{ rank: 1, index: 231, id: 'n02106030', name: 'collie', score: 0.3 }, { rank: 2, index: 281, id: 'n02123045', name: 'tabby, tabby cat', score: 0.2 }] };
    expect(['dog', 'Canis familiaris', 'n02084071', 'animal', 'mammal'].map((q) => matchesLabel(collie, q))).toEqual([true, true, true, true, true]);
    // Only the best label's ancestors: the second-best tabby does not make it a cat; "do" is not a name.
    expect(['domestic cat', 'do', 'vehicle'].map((q) => matchesLabel(collie, q))).toEqual([false, false, false]);
    const withParents = { ...doc('k', ['something']), parents: [{ rank: 1, id: 'n02121808', name: 'domestic cat', score: 0.6 }] };
    expect([matchesLabel(withParents, 'Domestic Cat'), matchesLabel(withParents, 'domestic')]).toEqual([true, false]);
  });

  test('an error result matches its code exactly', () => {
    const d = doc('k', { code: 'CORRUPT_IMAGE' });
    expect([matchesLabel(d, 'corrupt_image'), matchesLabel(d, 'CORRUPT'), matchesLabel(d, 'tabby')]).toEqual([true, false, false]);
  });
});

describe('readPage', () => {
  const keys = Array.from({ length: 7 }, (_, i) => `r${i}`);
  const entries: ResultEntry[] = keys.map((key, i) => ({ key, lastModified: 1000 - i }));
  const docs = new Map(keys.map((k, i) => [k, doc(k, [i % 3 === 0 ? 'tabby' : 'drake', 'pill bottle'])]));
  const read = async (k: string) => docs.get(k) ?? null;

  test('pages of three through seven results, then the end', async () => {
    const pages: string[][] = [];
    for (let offset: number | null = 0; offset !== null; ) {
      const page = await readPage(entries, read, { limit: 3, offset });
      pages.push(page.results.map((d) => d.key));
      expect(page.listed).toBe(7);
      offset = page.next;
    }
    expect(pages).toEqual([['r0', 'r1', 'r2'], ['r3', 'r4', 'r5'], ['r6']]);
  });

  test('the filter reads on until the page is full, and next points past what it read', async () => {
    const first = await readPage(entries, read, { limit: 2, offset: 0, label: 'tabby' });
    expect([first.results.map((d) => d.key), first.next]).toEqual([['r0', 'r3'], 4]);
    const second = await readPage(entries, read, { limit: 2, offset: first.next!, label: 'tabby' });
    expect([second.results.map((d) => d.key), second.next]).toEqual([['r6'], null]);
  });

  test('a result deleted between the listing and the read is skipped', async () => {
    const page = await readPage(entries, async (k) => (k === 'r1' ? null : read(k)), { limit: 3, offset: 0 });
    expect(page.results.map((d) => d.key)).toEqual(['r0', 'r2', 'r3']);
  });
});
