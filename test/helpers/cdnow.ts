import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** The PyPI wheel that ships the CDNOW data sets the BG/NBD and Gamma-Gamma papers fitted. */
export const LIFETIMES_VERSION = '0.11.3';

const TOOLS = path.resolve(__dirname, '../../.cartflow/tools/lifetimes');

/**
 * The folder of lifetimes' data sets: CDNOW_sample.txt (master id, sample id 1..2357, YYYYMMDD,
 * units, dollars), CDNOW_master.txt, cdnow_customers_summary.csv (ID, frequency, recency, T) and
 * cdnow_customers_summary_with_transactions.csv (ID, x, t_x, T, zbar). The first call downloads the
 * wheel lifetimes==0.11.3 with pip (no dependencies) into .cartflow/tools/lifetimes and unpacks it
 * with Python's zipfile; later calls, and concurrent ones, reuse it.
 */
export function cdnowDatasets(): Promise<string> {
  downloading ??= download().catch((error: unknown) => {
    downloading = undefined;
    throw error;
  });
  return downloading;
}

let downloading: Promise<string> | undefined;

async function download(): Promise<string> {
  const target = path.join(TOOLS, `lifetimes-${LIFETIMES_VERSION}`);
  const datasets = path.join(target, 'lifetimes', 'datasets');
  if (fs.existsSync(path.join(datasets, 'CDNOW_sample.txt'))) return datasets;

  fs.mkdirSync(TOOLS, { recursive: true });
  const staging = fs.mkdtempSync(`${target}.partial-`);
  try {
    try {
      await run('python3', [
        '-m',
        'pip',
        'download',
        '--quiet',
        '--disable-pip-version-check',
        '--no-deps',
        '--only-binary=:all:',
        '--dest',
        staging,
        `lifetimes==${LIFETIMES_VERSION}`,
      ]);
    } catch (error) {
      const detail = ((error as { stderr?: string }).stderr || (error as Error).message).trim();
      throw new Error(
        `The CDNOW data sets come from the PyPI wheel lifetimes==${LIFETIMES_VERSION}, and pip could not download it: ` +
          `${detail.split('\n').slice(-3).join(' ')}\n` +
          'These tests need python3 with pip and access to the Python package index; or unpack that wheel ' +
          `yourself so that ${path.join(datasets, 'CDNOW_sample.txt')} exists.`,
      );
    }
    const wheel = fs.readdirSync(staging).find((name) => name.endsWith('.whl'));
    if (!wheel)
      throw new Error(
        `pip downloaded lifetimes==${LIFETIMES_VERSION} into ${staging}, but no wheel is there.`,
      );
    const unpacked = path.join(staging, 'unpacked');
    await run('python3', ['-m', 'zipfile', '-e', path.join(staging, wheel), unpacked]);
    try {
      fs.renameSync(unpacked, target);
    } catch (error) {
      // Another test process unpacked it first: theirs is as good as ours.
      if (!fs.existsSync(path.join(datasets, 'CDNOW_sample.txt'))) throw error;
    }
  } finally {
    fs.rmSync(staging, { recursive: true, force: true });
  }
  return datasets;
}
