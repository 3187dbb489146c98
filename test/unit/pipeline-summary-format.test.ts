import { quarantineWarning } from '../../transform/quarantine-share';
import {
  formatSummary,
  type PipelineSummary,
  type ReconciliationSummary,
} from '../../contracts/pipeline-summary';

const reconciliation = (over: Partial<ReconciliationSummary> = {}): ReconciliationSummary => ({
  source: 'salon',
  days: 3,
  mismatchedDays: 0,
  unsettled: false,
  // A unit price of amount ÷ quantity has 16 decimals in the warehouse, and so do its sums.
  source_lines: 17_850,
  source_amount: '461323.9400000000000000',
  warehouse_lines: 17_850,
  warehouse_amount: '461323.9400000000000000',
  quarantined_lines: 2,
  quarantined_amount: '1157.0100000000000000',
  differences: [],
  ...over,
});

const summary = (reconciliations: ReconciliationSummary[]): PipelineSummary => ({
  date: '2026-11-23',
  status: 'succeeded',
  startedAt: '2026-11-23T02:00:00Z',
  loads: [],
  transforms: [
    {
      source: 'salon',
      mapped: {},
      quarantined: [{ entity: 'order_lines', rule: 'duplicate', rows: 2 }],
      customers: { new: 0, newVersions: 0, overwritten: 0 },
      products: { new: 0, newVersions: 0, overwritten: 0 },
      orderLines: { inserted: 0, updated: 0, deleted: 0 },
      payments: { inserted: 0, updated: 0, deleted: 0 },
    },
  ],
  reconciliations,
  quarantinedByRule: { duplicate: 2 },
});

describe("the run's summary", () => {
  it('prints revenue to the cent, and says which source the quarantined rows are of', () => {
    const text = formatSummary(summary([reconciliation()]));
    expect(text).toMatch(/- source: 17,850 lines, revenue 461,323\.94\n/);
    expect(text).toMatch(/revenue 461,323\.94 \(of which quarantined 1,157\.01\)/);
    expect(text).not.toMatch(/0000/);
    expect(text).toMatch(/Quarantined rows of salon by rule:\n- order_lines duplicate: 2/);
  });

  it('warns when the quarantined share of lines or revenue is above the threshold, and only then', () => {
    expect(quarantineWarning(reconciliation(), 0.01)).toBeUndefined();
    // 1,157.01 of 461,323.94 is 0.25% of the revenue: above a threshold of 0.2%.
    expect(quarantineWarning(reconciliation(), 0.002)).toMatch(
      /^salon: 2 of 17,850 lines \(0\.01%\) and 1,157\.01 of 461,323\.94 revenue \(0\.25%\) quarantined, above the threshold of 0\.20%/,
    );
    // Lines alone: 1 of 4 lines worth nothing.
    expect(
      quarantineWarning(
        reconciliation({ source_lines: 4, quarantined_lines: 1, quarantined_amount: '0' }),
        0.2,
      ),
    ).toMatch(/1 of 4 lines \(25\.00%\)/);
    // Exactly at the threshold is not above it.
    expect(
      quarantineWarning(
        reconciliation({
          source_lines: 100,
          quarantined_lines: 1,
          source_amount: '100',
          quarantined_amount: '1',
        }),
        0.01,
      ),
    ).toBeUndefined();
    const warned = reconciliation({ quarantineWarning: 'salon: too much quarantined' });
    expect(formatSummary(summary([warned]))).toMatch(/- \*\*Warning: salon: too much quarantined\*\*/);
  });
});
