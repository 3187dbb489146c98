import type { ModelStepResult } from '../../contracts/model-summary';
import { useTensorFlow } from '../../ml/backend';
import {
  bgNbdExpectedPurchases,
  bgNbdProbabilityAlive,
  customerLifetimeValue,
  fitBgNbd,
  fitGammaGamma,
  gammaGammaExpectedSpend,
} from '../../ml/clv';
import { chooseClusterCount, nameClusters, standardiseRfm } from '../../ml/kmeans';
import { RFM_SEGMENTS, SEGMENT_ACTIONS, rfmSegment, scoreRfm } from '../../ml/rfm';
import { CopyWriter } from '../../lib/copy';
import { GROWTH_BY_MONTH, REPEAT_PURCHASE_DAYS, RFM_FEATURES } from './features.sql';
import {
  createModelFitter,
  dateKey,
  FLOAT64_JS,
  NotEnoughData,
  requireFinite,
  type ModelDeps,
  type ModelInput,
} from './fit';
import { clearMartDate } from './versions';

export type { ModelDeps, ModelInput } from './fit';

/**
 * BG/NBD and Gamma-Gamma converge in 20–30 iterations on real shops. One that has not after 200 is
 * degenerate (e.g. every customer buying at one steady rate: r and α grow without bound, there is no
 * heterogeneity to estimate); it stops there and says so rather than run 1,000 iterations.
 */
const MAX_LIKELIHOOD_ITERATIONS = 200;

/**
 * The customer models' activities (docs/models.md): each reads the warehouse as of its date with
 * set-based SQL, fits in `ml/`, and replaces its mart's rows for the date together with a row of
 * `ops.model_versions`, in one transaction. A failed fit records a failed version and leaves the last
 * good rows in place. Only counts, the version id and the headline travel back to the workflow.
 */
export function createModelActivities(deps: ModelDeps) {
  const { warehouse, config } = deps;
  const fitModel = createModelFitter(deps);

  async function rfmFeatures(date: string) {
    const { rows } = await warehouse.query<{
      source: string;
      customer_id: string;
      recency_days: number;
      frequency: number;
      monetary: number;
    }>(RFM_FEATURES, [dateKey(date)]);
    requireFinite(rows, ['recency_days', 'frequency', 'monetary']);
    return {
      rows,
      recencyDays: Float64Array.from(rows, (r) => r.recency_days),
      frequency: Float64Array.from(rows, (r) => r.frequency),
      monetary: Float64Array.from(rows, (r) => r.monetary),
    };
  }

  return {
    /** RFM scores and segments per customer (mart.rfm). */
    async fitRfm(input: ModelInput): Promise<ModelStepResult> {
      return fitModel('rfm', input, async () => {
        const features = await rfmFeatures(input.date);
        const { rows } = features;
        // Ties are broken by customer id; with several sources, by source then id.
        const ids = rows.map((r) => `${r.source}\u0000${r.customer_id}`);
        const scores = scoreRfm({ ids, ...features });
        const segments = rows.map((_, i) => rfmSegment(scores.r[i], scores.f[i]));
        const sizes = Object.fromEntries(RFM_SEGMENTS.map((s) => [s, 0]));
        for (const segment of segments) sizes[segment]++;
        return {
          parameters: { scores: 'quintile by rank, ties by customer id', segmentsBy: 'R and F' },
          metrics: { customers: rows.length, segments: sizes },
          trainingRows: rows.length,
          outputRows: rows.length,
          backend: 'js',
          headline: `${rows.length} customers in ${Object.values(sizes).filter((n) => n > 0).length} segments`,
          write: async (client, versionId) => {
            await clearMartDate(client, 'mart.rfm', input.date);
            const writer = new CopyWriter(client, 'mart.rfm', [
              'as_of',
              'source',
              'customer_id',
              'recency_days',
              'frequency',
              'monetary',
              'r_score',
              'f_score',
              'm_score',
              'rfm_cell',
              'segment',
              'action',
              'version_id',
            ]);
            for (let i = 0; i < rows.length; i++) {
              const r = rows[i];
              await writer.write([
                input.date,
                r.source,
                r.customer_id,
                String(r.recency_days),
                String(r.frequency),
                String(r.monetary),
                String(scores.r[i]),
                String(scores.f[i]),
                String(scores.m[i]),
                `${scores.r[i]}${scores.f[i]}${scores.m[i]}`,
                segments[i],
                SEGMENT_ACTIONS[segments[i]],
                String(versionId),
              ]);
            }
            return writer.end();
          },
        };
      });
    },

    /** k-means on the standardised log1p of recency, frequency and monetary (mart.clusters). */
    async fitClusters(input: ModelInput): Promise<ModelStepResult> {
      return fitModel('clusters', input, async (heartbeat) => {
        const backend = await useTensorFlow(config.ml.backend);
        const features = await rfmFeatures(input.date);
        const { rows } = features;
        if (rows.length < 10)
          throw new NotEnoughData(
            `clustering needs at least 10 customers with a purchase up to the date, and there are ${rows.length}`,
          );
        const standardised = standardiseRfm(features.recencyDays, features.frequency, features.monetary);
        const chosen = chooseClusterCount(standardised.features, 3, {
          kMin: 2,
          kMax: Math.min(10, rows.length - 1),
          seed: config.models.seed,
          onProgress: (k) => heartbeat({ step: 'k-means', k }),
        });
        const { best, k } = chosen;
        const sizes = new Array<number>(k).fill(0);
        const sums = Array.from({ length: k }, () => [0, 0, 0]);
        for (let i = 0; i < rows.length; i++) {
          const c = best.assignments[i];
          sizes[c]++;
          sums[c][0] += features.recencyDays[i];
          sums[c][1] += features.frequency[i];
          sums[c][2] += features.monetary[i];
        }
        const previous = await warehouse.query<{ cluster_name: string; centroid_z: number[] }>(
          `select cluster_name, centroid_z from mart.cluster_centroids
            where as_of = (select max(as_of) from mart.cluster_centroids where as_of < $1)`,
          [input.date],
        );
        const named = nameClusters(
          best.centroids,
          3,
          sizes,
          previous.rows.map((r) => ({ name: r.cluster_name, centroid: r.centroid_z })),
        );
        const chosenCandidate = chosen.candidates.find((c) => c.k === k);
        return {
          parameters: {
            features: 'z-scored log1p(recency_days, frequency, monetary)',
            mean: standardised.mean,
            std: standardised.std,
            seed: config.models.seed,
            kRange: [2, Math.min(10, rows.length - 1)],
          },
          metrics: {
            k,
            inertia: best.inertia,
            silhouette: chosenCandidate?.silhouette,
            candidates: chosen.candidates,
            clusters: named.map((c) => ({ cluster: c.cluster, name: c.name, size: c.size })),
          },
          trainingRows: rows.length,
          outputRows: rows.length,
          backend: backend.name,
          headline: `k ${k} (silhouette ${chosenCandidate?.silhouette.toFixed(3)}): ${named.map((c) => c.name).join('; ')}`,
          write: async (client, versionId) => {
            await clearMartDate(client, 'mart.clusters', input.date);
            await clearMartDate(client, 'mart.cluster_centroids', input.date);
            for (const cluster of named) {
              const c = cluster.cluster;
              await client.query(
                `insert into mart.cluster_centroids
                   (as_of, cluster, cluster_name, customers, recency_days, frequency, monetary, centroid_z, version_id)
                 values ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
                [
                  input.date,
                  c,
                  cluster.name,
                  sizes[c],
                  sums[c][0] / sizes[c],
                  sums[c][1] / sizes[c],
                  sums[c][2] / sizes[c],
                  cluster.centroid,
                  versionId,
                ],
              );
            }
            const nameOf = new Map(named.map((c) => [c.cluster, c.name]));
            const writer = new CopyWriter(client, 'mart.clusters', [
              'as_of',
              'source',
              'customer_id',
              'cluster',
              'cluster_name',
              'version_id',
            ]);
            for (let i = 0; i < rows.length; i++) {
              const c = best.assignments[i];
              await writer.write([
                input.date,
                rows[i].source,
                rows[i].customer_id,
                String(c),
                nameOf.get(c),
                String(versionId),
              ]);
            }
            return writer.end();
          },
        };
      });
    },

    /** New, churned, regained and active customers per month (mart.growth), in SQL. */
    async fitGrowth(input: ModelInput): Promise<ModelStepResult> {
      return fitModel('growth', input, async () => {
        const months = config.models.churnMonths;
        const { rows } = await warehouse.query<{ months: number; customers: number }>(
          `select count(*)::int as months, coalesce(sum(new), 0)::int as customers from (${GROWTH_BY_MONTH}) g`,
          [dateKey(input.date), months],
        );
        const counted = rows[0];
        return {
          parameters: { churnMonths: months },
          metrics: { months: counted.months },
          trainingRows: counted.customers,
          outputRows: counted.months,
          backend: 'sql',
          headline: `${counted.months} months, churn after ${months} without a purchase`,
          write: async (client, versionId) => {
            await clearMartDate(client, 'mart.growth', input.date);
            const inserted = await client.query(
              `insert into mart.growth (as_of, month, active, new, churned, regained, net_growth, is_partial, version_id)
               select $3::date, month::date, active, new, churned, regained, new + regained - churned, is_partial, $4
                 from (${GROWTH_BY_MONTH}) g`,
              [dateKey(input.date), months, input.date, versionId],
            );
            return inserted.rowCount ?? 0;
          },
        };
      });
    },

    /** BG/NBD and Gamma-Gamma: probability alive, expected purchases and spend, CLV (mart.clv). */
    async fitClv(input: ModelInput): Promise<ModelStepResult> {
      return fitModel('clv', input, async (heartbeat) => {
        const {
          clvTimeUnit: unit,
          clvHorizonMonths: horizonMonths,
          clvMonthlyDiscount: discount,
        } = config.models;
        const daysPerUnit = unit === 'weeks' ? 7 : 1;
        const { rows } = await warehouse.query<{
          source: string;
          customer_id: string;
          repeat_days: number;
          age_days: number;
          recency_days: number;
          mean_repeat_spend: number | null;
          spend_days: number;
        }>(REPEAT_PURCHASE_DAYS, [dateKey(input.date)]);
        requireFinite(rows, ['mean_repeat_spend']);
        const frequency = Float64Array.from(rows, (r) => r.repeat_days);
        const recency = Float64Array.from(rows, (r) => r.recency_days / daysPerUnit);
        const age = Float64Array.from(rows, (r) => r.age_days / daysPerUnit);
        const repeaters = rows.filter((r) => r.spend_days > 0 && r.mean_repeat_spend !== null);
        if (repeaters.length < 10)
          throw new NotEnoughData(
            `Gamma-Gamma needs at least 10 customers with a repeat purchase, and there are ${repeaters.length}`,
          );
        const bgNbd = fitBgNbd(
          { frequency, recency, T: age },
          {
            maxIterations: MAX_LIKELIHOOD_ITERATIONS,
            onProgress: (iteration) => heartbeat({ step: 'bg/nbd', iteration }),
          },
        );
        const gammaGamma = fitGammaGamma(
          Float64Array.from(repeaters, (r) => r.spend_days),
          Float64Array.from(repeaters, (r) => r.mean_repeat_spend as number),
          { maxIterations: MAX_LIKELIHOOD_ITERATIONS },
        );
        const unconverged = [
          bgNbd.converged ? '' : 'BG/NBD',
          gammaGamma.converged ? '' : 'Gamma-Gamma',
        ].filter(Boolean);
        const horizon = (horizonMonths * 365.25) / 12 / daysPerUnit;
        const params = bgNbd.params;
        return {
          parameters: {
            timeUnit: unit,
            bgNbd: params,
            gammaGamma: gammaGamma.params,
            horizonMonths,
            monthlyDiscount: discount,
          },
          metrics: {
            customers: rows.length,
            repeatCustomers: repeaters.length,
            bgNbdLogLikelihood: bgNbd.logLikelihood,
            bgNbdConverged: bgNbd.converged,
            gammaGammaLogLikelihood: gammaGamma.logLikelihood,
            gammaGammaConverged: gammaGamma.converged,
          },
          trainingRows: rows.length,
          outputRows: rows.length,
          backend: FLOAT64_JS,
          headline:
            (unconverged.length ? `NOT CONVERGED (${unconverged.join(', ')}; see docs/models.md): ` : '') +
            `r ${params.r.toFixed(3)}, α ${params.alpha.toFixed(3)} ${unit}, a ${params.a.toFixed(3)}, b ${params.b.toFixed(3)}; p ${gammaGamma.params.p.toFixed(2)}, q ${gammaGamma.params.q.toFixed(2)}, γ ${gammaGamma.params.gamma.toFixed(2)}`,
          write: async (client, versionId) => {
            await clearMartDate(client, 'mart.clv', input.date);
            const writer = new CopyWriter(client, 'mart.clv', [
              'as_of',
              'source',
              'customer_id',
              'frequency',
              'recency',
              'age',
              'time_unit',
              'mean_repeat_spend',
              'probability_alive',
              'expected_purchases',
              'expected_spend',
              'clv',
              'version_id',
            ]);
            for (let i = 0; i < rows.length; i++) {
              const r = rows[i];
              const x = frequency[i];
              const spend = r.mean_repeat_spend ?? 0;
              const expectedSpend = gammaGammaExpectedSpend(gammaGamma.params, r.spend_days, spend);
              const value = customerLifetimeValue({
                bgNbd: params,
                gammaGamma: gammaGamma.params,
                frequency: x,
                recency: recency[i],
                T: age[i],
                meanSpend: spend,
                spendFrequency: r.spend_days,
                months: horizonMonths,
                monthlyDiscount: discount,
                unitsPerMonth: 365.25 / 12 / daysPerUnit,
              });
              await writer.write([
                input.date,
                r.source,
                r.customer_id,
                String(x),
                String(recency[i]),
                String(age[i]),
                unit,
                r.mean_repeat_spend === null ? null : String(r.mean_repeat_spend),
                String(bgNbdProbabilityAlive(params, x, recency[i], age[i])),
                String(bgNbdExpectedPurchases(params, horizon, x, recency[i], age[i])),
                String(expectedSpend),
                String(value),
                String(versionId),
              ]);
            }
            return writer.end();
          },
        };
      });
    },
  };
}
