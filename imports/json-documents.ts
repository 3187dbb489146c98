import readline from 'node:readline';
import { Readable } from 'node:stream';
import { StringDecoder } from 'node:string_decoder';
import { ImportRefused, type InputFile } from './input';

/** One document of a file as text, with the line it starts on. */
export interface DocumentText {
  line: number;
  text: string;
}

/**
 * Streams the documents of a file: JSON lines (one document per line), or one JSON array of
 * documents (pretty-printed or not), or documents written one after another. Only the document being
 * read is held in memory, never the file. A document that is no valid JSON is still yielded, for the
 * caller to quarantine with its line.
 */
export async function* readJsonDocuments(input: InputFile): AsyncGenerator<DocumentText> {
  const iterator = input.stream[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  const decoder = new StringDecoder('utf8');
  // Find the first significant character, keeping what was read.
  let head = '';
  for (;;) {
    const next = await iterator.next();
    if (next.done) {
      head += decoder.end();
      break;
    }
    head += decoder.write(next.value);
    if (/\S/.test(head)) break;
  }
  head = head.replace(/^\uFEFF/, '');
  const first = /\S/.exec(head);
  if (!first) throw new ImportRefused(`${input.name}: the file is empty.`);
  const start = first[0];
  if (start !== '[' && start !== '{')
    throw new ImportRefused(
      `${input.name}, line ${head.slice(0, first.index).split('\n').length}: a documents file is JSON lines or a JSON array of objects; it starts with "${start}".`,
    );
  async function* rest(): AsyncGenerator<string> {
    yield head;
    for (;;) {
      const next = await iterator.next();
      if (next.done) {
        const tail = decoder.end();
        if (tail) yield tail;
        return;
      }
      yield decoder.write(next.value);
    }
  }
  if (start === '[') {
    yield* scanDocuments(rest(), true, input.name);
    return;
  }
  // JSON lines, unless the first line is no complete document (pretty-printed objects one after another).
  const lines = readline.createInterface({ input: Readable.from(rest()), crlfDelay: Infinity });
  const lineIterator = lines[Symbol.asyncIterator]();
  const buffered: string[] = [];
  let firstLine: string | undefined;
  for (;;) {
    const next = await lineIterator.next();
    if (next.done) break;
    buffered.push(next.value);
    if (next.value.trim() !== '') {
      firstLine = next.value;
      break;
    }
  }
  const isJson = (text: string) => {
    try {
      JSON.parse(text);
      return true;
    } catch {
      return false;
    }
  };
  async function* allLines(): AsyncGenerator<string> {
    yield* buffered;
    for (;;) {
      const next = await lineIterator.next();
      if (next.done) return;
      yield next.value;
    }
  }
  if (firstLine !== undefined && !isJson(firstLine.trim())) {
    async function* asText(): AsyncGenerator<string> {
      for await (const text of allLines()) yield text + '\n';
    }
    yield* scanDocuments(asText(), false, input.name);
    return;
  }
  let line = 0;
  for await (const text of allLines()) {
    line++;
    if (text.trim() !== '') yield { line, text: text.trim() };
  }
}

/**
 * Splits JSON text into its top-level values (inside the outer array when `array`), tracking strings,
 * escapes and nesting, and the line each value starts on.
 */
async function* scanDocuments(
  chunks: AsyncIterable<string>,
  array: boolean,
  name: string,
): AsyncGenerator<DocumentText> {
  const base = array ? 1 : 0;
  let depth = 0;
  let inString = false;
  let escape = false;
  let line = 1;
  let current: string[] | undefined;
  let currentStart = 0;
  let segmentStart = 0;
  let closed = false;
  for await (const chunk of chunks) {
    segmentStart = 0;
    for (let i = 0; i < chunk.length; i++) {
      const c = chunk[i];
      if (c === '\n') line++;
      if (inString) {
        if (escape) escape = false;
        else if (c === '\\') escape = true;
        else if (c === '"') inString = false;
        continue;
      }
      if (closed) {
        if (!/\s/.test(c))
          throw new ImportRefused(`${name}, line ${line}: text after the end of the JSON array.`);
        continue;
      }
      if (depth === base && current === undefined) {
        // Between values: whitespace, commas, or the array's end.
        if (/\s/.test(c) || (array && c === ',')) continue;
        if (array && c === ']') {
          depth--;
          closed = true;
          continue;
        }
        current = [];
        currentStart = line;
        segmentStart = i;
      }
      if (c === '"') inString = true;
      else if (c === '{' || c === '[') depth++;
      else if (c === '}' || c === ']') depth--;
      if (current === undefined) continue;
      if ((c === '}' || c === ']') && depth === base) {
        // An object (or array) value closed: one document.
        current.push(chunk.slice(segmentStart, i + 1));
        yield { line: currentStart, text: current.join('') };
        current = undefined;
      } else if (depth < base || (depth === base && (c === ',' || c === '\n'))) {
        // A bare value (a number, a word) where a document should be: yielded for the quarantine.
        current.push(chunk.slice(segmentStart, i));
        yield { line: currentStart, text: current.join('').trim() };
        current = undefined;
        if (depth < base) {
          closed = true;
          depth = 0;
        }
      }
    }
    if (current !== undefined) {
      current.push(chunk.slice(segmentStart));
      segmentStart = 0;
    }
  }
  if (current !== undefined && current.join('').trim() !== '') {
    if (depth > base || inString)
      throw new ImportRefused(
        `${name}, line ${currentStart}: the document starting here never ends (the file is cut short, or a brace or quote is missing).`,
      );
    yield { line: currentStart, text: current.join('').trim() };
  }
  if (array && !closed) throw new ImportRefused(`${name}: the JSON array is never closed with "]".`);
}
