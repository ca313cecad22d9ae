/**
 * Reader for WordNet 3.0's noun database (`data.noun`, Debian's `wordnet-base` at
 * /usr/share/wordnet/data.noun), in the format of WordNet's wndb(5WN) manual page:
 *
 *     offset lex_filenum ss_type w_cnt word lex_id [word lex_id...] p_cnt [ptr...] | gloss
 *
 * `w_cnt` is two hexadecimal digits, `p_cnt` three decimal digits, and each pointer is
 * `symbol offset pos source/target`. ImageNet's class ids are these offsets with an `n` in front
 * (`n02123045` is line `02123045`, tabby). Used by the generators of the repository's WordNet-derived
 * data; nothing at run time reads WordNet itself.
 */
import { readFile } from 'node:fs/promises';

/** The licence notice WordNet asks to travel with every copy, written beside each generated file. */
export const WORDNET_LICENSE = 'WORDNET-LICENSE.txt';

/** Where the generated labels file lives, relative to the repository root. */
export const LABELS_FIXTURE = 'test/fixtures/imagenet/labels.txt';

/** Where Debian's `wordnet-base` installs the noun database. */
export const DEBIAN_DATA_NOUN = '/usr/share/wordnet/data.noun';

/** One noun synset of WordNet. */
export interface NounSynset {
  /** The synset's id as ImageNet writes it: `n` + the 8-digit byte offset. */
  readonly wnid: string;
  /** WordNet lexicographer file number (05 noun.animal, 13 noun.food, 06 noun.artifact, …). */
  readonly lexFile: number;
  /** The synset's lemmas in WordNet's order, underscores turned to spaces, markers like `(a)` dropped. */
  readonly lemmas: readonly string[];
  /** Direct hypernyms (`@`) and instance hypernyms (`@i`), as wnids, in file order. */
  readonly hypernyms: readonly string[];
  /** The definition and examples after the `|`. */
  readonly gloss: string;
}

/** A line of data.noun that does not follow wndb(5WN). */
export class WordNetFormatError extends Error {
  override readonly name = 'WordNetFormatError';
}

/** Lemma as a person reads it: `domestic_cat` → `domestic cat`; syntactic markers removed. */
export function readableLemma(word: string): string {
  return word.replace(/\((?:a|p|ip)\)$/, '').replace(/_/g, ' ');
}

/**
 * Parses one synset line of data.noun.
 * @throws WordNetFormatError when the counts or fields do not add up.
 */
export function parseNounLine(line: string): NounSynset {
  const bar = line.indexOf(' | ');
  const fields = (bar < 0 ? line : line.slice(0, bar)).trim().split(' ');
  const gloss = bar < 0 ? '' : line.slice(bar + 3).trim();
  const [offset, lexFile, ssType, wCnt] = fields;
  if (!offset || !/^\d{8}$/.test(offset) || ssType !== 'n' || !wCnt) {
    throw new WordNetFormatError(`not a noun synset line: ${line.slice(0, 60)}`);
  }
  const words = Number.parseInt(wCnt, 16);
  const lemmas: string[] = [];
  let i = 4;
  for (let w = 0; w < words; w++, i += 2) lemmas.push(readableLemma(fields[i] ?? ''));
  const pointers = Number.parseInt(fields[i] ?? '', 10);
  if (!Number.isInteger(pointers) || lemmas.some((l) => l === '')) {
    throw new WordNetFormatError(`synset ${offset}: word or pointer count does not match its fields`);
  }
  i += 1;
  const hypernyms: string[] = [];
  for (let p = 0; p < pointers; p++, i += 4) {
    const symbol = fields[i];
    const target = fields[i + 1];
    if (symbol === undefined || target === undefined) throw new WordNetFormatError(`synset ${offset}: ${pointers} pointers announced, fewer present`);
    if ((symbol === '@' || symbol === '@i') && fields[i + 2] === 'n') hypernyms.push(`n${target}`);
  }
  return { wnid: `n${offset}`, lexFile: Number.parseInt(lexFile ?? '', 10), lemmas, hypernyms, gloss };
}

/** The licence header of data.noun (its leading lines that start with two spaces), trimmed. */
export function licenceHeader(text: string): string {
  const lines: string[] = [];
  for (const line of text.split('\n')) {
    if (!line.startsWith('  ')) break;
    lines.push(line.replace(/^\s+\d+\s?/, '').trimEnd());
  }
  return lines.join('\n').trim();
}

/** Reads data.noun into a map from wnid to synset. */
export async function readDataNoun(file = DEBIAN_DATA_NOUN): Promise<{ synsets: Map<string, NounSynset>; licence: string }> {
  const text = await readFile(file, 'latin1');
  const synsets = new Map<string, NounSynset>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('  ')) continue;
    const s = parseNounLine(line);
    synsets.set(s.wnid, s);
  }
  return { synsets, licence: licenceHeader(text) };
}
