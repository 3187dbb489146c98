import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { PassThrough, Transform, type Readable } from 'node:stream';
import zlib from 'node:zlib';

/** How far the reading of a file has come, for a progress bar. */
export interface Progress {
  /** Bytes of the file read so far (compressed bytes for a gzipped file). */
  bytesRead: number;
  bytesTotal: number;
  /** Records parsed so far. */
  records: number;
}

export type ProgressListener = (progress: Progress) => void;

/** An opened input file: its decompressed bytes as a stream, and its identity once fully read. */
export interface InputFile {
  /** The file's name without its directory, as summaries and quarantine details show it. */
  name: string;
  path: string;
  bytesTotal: number;
  gzip: boolean;
  /** The decompressed content. */
  stream: Readable;
  /** Bytes of the file read so far. */
  bytesRead(): number;
  /** The SHA-256 of the file as stored (compressed or not); resolves when the stream has been read to its end. */
  sha256: Promise<string>;
}

const GZIP_MAGIC = [0x1f, 0x8b];

/**
 * Opens a file for streaming: gzip is recognised by its magic bytes (not by the name), decompressed
 * on the fly, and the file's checksum is computed from the same bytes as they pass. Nothing is held in
 * memory beyond the streams' buffers.
 */
export function openInput(file: string): InputFile {
  const resolved = path.resolve(file);
  let stat: fs.Stats;
  try {
    stat = fs.statSync(resolved);
  } catch {
    throw new ImportRefused(`${file}: no such file.`);
  }
  if (!stat.isFile()) throw new ImportRefused(`${file}: not a regular file.`);
  const head = Buffer.alloc(2);
  const fd = fs.openSync(resolved, 'r');
  const headBytes = fs.readSync(fd, head, 0, 2, 0);
  fs.closeSync(fd);
  const gzip = headBytes === 2 && head[0] === GZIP_MAGIC[0] && head[1] === GZIP_MAGIC[1];

  const hash = crypto.createHash('sha256');
  let bytesRead = 0;
  let resolveSha!: (sha: string) => void;
  let rejectSha!: (error: Error) => void;
  const sha256 = new Promise<string>((resolve, reject) => {
    resolveSha = resolve;
    rejectSha = reject;
  });
  // Nobody may await the checksum when the import fails early; that must not be an unhandled rejection.
  sha256.catch(() => undefined);

  const raw = fs.createReadStream(resolved, { highWaterMark: 1 << 20 });
  const tap = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      bytesRead += chunk.length;
      hash.update(chunk);
      callback(null, chunk);
    },
    flush(callback) {
      resolveSha(hash.digest('hex'));
      callback();
    },
  });
  raw.on('error', (error) => {
    rejectSha(error);
    tap.destroy(error);
  });
  raw.pipe(tap);
  let stream: Readable = tap;
  if (gzip) {
    const gunzip = zlib.createGunzip();
    tap.on('error', (error) => gunzip.destroy(error));
    gunzip.on('error', (error) => rejectSha(error));
    stream = tap.pipe(gunzip);
  } else {
    const through = new PassThrough();
    tap.on('error', (error) => through.destroy(error));
    stream = tap.pipe(through);
  }
  return {
    name: path.basename(resolved),
    path: resolved,
    bytesTotal: stat.size,
    gzip,
    stream,
    bytesRead: () => bytesRead,
    sha256,
  };
}

/**
 * The file cannot be understood as the import kind expects: a missing column, a delimiter or date
 * format that cannot be told, broken quoting. Nothing was imported; the message says where and why.
 */
export class ImportRefused extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ImportRefused';
  }
}
