import { mkdtemp, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

import { FileNotFoundError, InvalidLabelsError } from '../../core/errors.js';
import { loadLabels, parseLabels } from '../../core/labels.js';
import { SYNSET_PATH } from '../helpers/paths.js';

describe('parseLabels', () => {
  it('splits WordNet id from the whole name, keeping commas', () => {
    expect(parseLabels('n01440764 tench, Tinca tinca\nn01443537 goldfish, Carassius auratus\n')).toEqual([
      { index: 0, id: 'n01440764', name: 'tench, Tinca tinca' },
      { index: 1, id: 'n01443537', name: 'goldfish, Carassius auratus' },
    ]);
  });

  it.each([
    ['bare name', 'great white shark', { id: 'great white shark', name: 'great white shark' }],
    ['single word', 'tench', { id: 'tench', name: 'tench' }],
    ['numeric id', '17 tabby cat', { id: '17', name: 'tabby cat' }],
    ['tab separated', 'n02123045\ttabby, tabby cat', { id: 'n02123045', name: 'tabby, tabby cat' }],
    ['name starting with a digit', '3D printer', { id: '3D printer', name: '3D printer' }],
    ['apostrophe', "n02966687 carpenter's kit, tool kit", { id: 'n02966687', name: "carpenter's kit, tool kit" }],
  ])('%s', (_what, line, expected) => {
    expect(parseLabels(line)).toEqual([{ index: 0, ...expected }]);
  });

  it('handles BOM, CRLF and trailing blank lines', () => {
    const labels = parseLabels('\uFEFFn01440764 tench\r\nn01443537 goldfish\r\n\r\n\r\n');
    expect(labels.map((l) => l.id)).toEqual(['n01440764', 'n01443537']);
    expect(labels[1]!.name).toBe('goldfish');
  });

  it('handles lone CR line ends', () => {
    expect(parseLabels('a\rb\rc').map((l) => l.name)).toEqual(['a', 'b', 'c']);
  });

  it('keeps duplicate names apart by index', () => {
    const labels = parseLabels('n02012849 crane\nn03126707 crane\n');
    expect(labels.map((l) => [l.index, l.id, l.name])).toEqual([
      [0, 'n02012849', 'crane'],
      [1, 'n03126707', 'crane'],
    ]);
  });

  it.each([[''], ['\n\n'], ['\uFEFF'], ['  \r\n ']])('throws InvalidLabelsError on empty text %j', (text) => {
    expect(() => parseLabels(text)).toThrow(InvalidLabelsError);
  });

  it('rejects a blank line inside (it would shift indices) and names the line', () => {
    expect(() => parseLabels('a\n\nb', 'x.txt')).toThrow(/x\.txt line 2 is blank/);
  });
});

describe('loadLabels', () => {
  it('reads the ImageNet synset: 1000 classes, both cranes, wnids throughout', async () => {
    const labels = await loadLabels(SYNSET_PATH);
    expect(labels).toHaveLength(1000);
    expect(labels[0]).toEqual({ index: 0, id: 'n01440764', name: 'tench, Tinca tinca' });
    expect(labels[999]!.id).toBe('n15075141');
    expect(labels.every((l, i) => l.index === i && /^n\d{8}$/.test(l.id))).toBe(true);
    expect(labels.filter((l) => l.name === 'crane')).toHaveLength(2);
    expect(new Set(labels.map((l) => l.id)).size).toBe(1000);
  });

  it('throws FileNotFoundError for a missing path', async () => {
    await expect(loadLabels('/nonexistent/labels.txt')).rejects.toBeInstanceOf(FileNotFoundError);
  });

  it('throws InvalidLabelsError naming an empty file', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'labels-'));
    const file = path.join(dir, 'empty.txt');
    await writeFile(file, '');
    await expect(loadLabels(file)).rejects.toThrow(new RegExp(`${file.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')} is empty`));
  });
});
