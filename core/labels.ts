/**
 * Class labels: one class per line, `<id> <name>` (ImageNet's `n01440764 tench, Tinca tinca`)
 * or a bare name. Results are keyed by line index, never by name: ImageNet has two "crane"
 * and two "maillot" classes.
 */
import { readFile } from 'node:fs/promises';
import { FileNotFoundError, InvalidLabelsError } from './errors.js';

/** One class of a model's output. */
export interface ClassLabel {
  /** 0-based position in the model output (= line number − 1). */
  readonly index: number;
  /** Class id (WordNet id for ImageNet); the name itself for bare-name lines. */
  readonly id: string;
  /** Human-readable name, the whole rest of the line (all synonyms kept). */
  readonly name: string;
}

/**
 * A first token that is an identifier rather than the start of a name: a WordNet-style id
 * (`n01440764`: up to three letters then three or more digits) or a plain number (`0`, `17`).
 * Deliberately narrow so names like `3D printer` or `7-Eleven` stay whole.
 */
const ID_TOKEN = /^(?:[A-Za-z]{1,3}\d{3,}|\d+)$/;

/**
 * Parses a labels file's text.
 *
 * Accepts a UTF-8 BOM, LF/CRLF/CR line ends and trailing blank lines. A blank line before the
 * last class is rejected because it would shift every later index.
 * @param text file contents.
 * @param source file name for error messages. @default 'labels'
 * @throws InvalidLabelsError when the text has no classes or a blank line inside.
 */
export function parseLabels(text: string, source = 'labels'): ClassLabel[] {
  const lines = text.replace(/^\uFEFF/, '').split(/\r\n|\n|\r/).map((l) => l.trim());
  while (lines.length > 0 && lines[lines.length - 1] === '') lines.pop();
  if (lines.length === 0) throw new InvalidLabelsError(`${source} is empty`);
  return lines.map((line, index) => {
    if (line === '') throw new InvalidLabelsError(`${source} line ${index + 1} is blank (it would shift the class indices after it)`);
    const m = /^(\S+)\s+(.+)$/.exec(line);
    if (m && ID_TOKEN.test(m[1]!)) return { index, id: m[1]!, name: m[2]! };
    return { index, id: line, name: line };
  });
}

/**
 * Reads and parses a labels file (UTF-8).
 * @throws FileNotFoundError when the path cannot be read; InvalidLabelsError as parseLabels.
 */
export async function loadLabels(path: string): Promise<ClassLabel[]> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new FileNotFoundError(path, err);
  }
  return parseLabels(text, path);
}
