import fs from 'node:fs';
import path from 'node:path';
import { pipInstall, PipInstallError } from '../../lib/pip-install';

/** The PyPI wheel that ships the CDNOW data sets the BG/NBD and Gamma-Gamma papers fitted. */
export const LIFETIMES_VERSION = '0.11.3';

const TOOLS = path.resolve(__dirname, '../../.cartflow/tools/lifetimes');

/**
 * The folder of lifetimes' data sets: CDNOW_sample.txt (master id, sample id 1..2357, YYYYMMDD,
 * units, dollars), CDNOW_master.txt, cdnow_customers_summary.csv (ID, frequency, recency, T) and
 * cdnow_customers_summary_with_transactions.csv (ID, x, t_x, T, zbar). The first call installs the
 * wheel lifetimes==0.11.3 with pip (its own files only, no dependencies) into
 * .cartflow/tools/lifetimes; later calls, and concurrent ones, reuse it.
 */
export async function cdnowDatasets(): Promise<string> {
  const target = path.join(TOOLS, `lifetimes-${LIFETIMES_VERSION}`);
  const datasets = path.join(target, 'lifetimes', 'datasets');
  try {
    pipInstall({
      requirement: `lifetimes==${LIFETIMES_VERSION}`,
      target,
      installed: () => fs.existsSync(path.join(datasets, 'CDNOW_sample.txt')),
      noDependencies: true,
      onlyBinary: true,
    });
  } catch (error) {
    if (!(error instanceof PipInstallError)) throw error;
    throw new Error(
      `The CDNOW data sets come from the PyPI wheel lifetimes==${LIFETIMES_VERSION}, and ${error.message}\n` +
        'These tests need python3 with pip and access to the Python package index; or install that wheel ' +
        `yourself so that ${path.join(datasets, 'CDNOW_sample.txt')} exists.`,
    );
  }
  return datasets;
}
