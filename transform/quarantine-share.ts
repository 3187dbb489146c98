import type { ReconciliationSummary } from '../contracts/pipeline-summary';
import { formatMoney, formatShare } from '../contracts/money';

/**
 * Reconciliation counts quarantined lines as accounted for, so "every day matches" holds even when a
 * rule took a large part of a source's sales. This makes that visible: when the quarantined share of
 * the source's order lines, or of its revenue, is above `threshold` (0 to 1), a warning saying how
 * much and where to look; undefined otherwise. Shares are over every day the reconciliation compared.
 */
export function quarantineWarning(summary: ReconciliationSummary, threshold: number): string | undefined {
  const lineShare = summary.source_lines > 0 ? summary.quarantined_lines / summary.source_lines : 0;
  const revenue = Math.abs(Number(summary.source_amount));
  const revenueShare = revenue > 0 ? Math.abs(Number(summary.quarantined_amount)) / revenue : 0;
  if (lineShare <= threshold && revenueShare <= threshold) return undefined;
  return (
    `${summary.source}: ${summary.quarantined_lines.toLocaleString('en-US')} of ${summary.source_lines.toLocaleString('en-US')} lines (${formatShare(lineShare)}) ` +
    `and ${formatMoney(summary.quarantined_amount)} of ${formatMoney(summary.source_amount)} revenue (${formatShare(revenueShare)}) quarantined, ` +
    `above the threshold of ${formatShare(threshold)}. See ops.quarantine for the rules; if repeated identical lines are ` +
    `legitimate there, set the source's "duplicates" to keep or sum (docs/pipeline.md).`
  );
}
