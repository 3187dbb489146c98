/**
 * What a model step reports: small enough for workflow history, shown in the pipeline's summary.
 * Pure: the models workflow builds it, the CLI prints it.
 */

export const MODELS = ['rfm', 'clusters', 'growth', 'clv', 'recommendations', 'forecast', 'stock'] as const;
export type ModelName = (typeof MODELS)[number];

/** Every mart `cartflow export` knows, and the model that writes it. */
export const MARTS = {
  rfm: 'rfm',
  clusters: 'clusters',
  cluster_centroids: 'clusters',
  growth: 'growth',
  clv: 'clv',
  forecast: 'forecast',
  stock_outlook: 'stock',
  recommendations: 'recommendations',
  related_products: 'recommendations',
  popular_products: 'recommendations',
} as const satisfies Record<string, ModelName>;

export interface ModelStepResult {
  model: ModelName;
  status: 'succeeded' | 'failed' | 'skipped';
  versionId?: number;
  trainingRows?: number;
  outputRows?: number;
  durationMs: number;
  backend?: string;
  /** The one figure a reader looks at first, e.g. `segments 10` or `k 4 (silhouette 0.41)`. */
  headline?: string;
  error?: string;
}

export function formatModelStep(step: ModelStepResult): string {
  const seconds = `${(step.durationMs / 1000).toFixed(1)} s`;
  if (step.status === 'skipped') return `${step.model}: skipped: ${step.error ?? 'not enough data'}`;
  if (step.status === 'failed')
    return `${step.model}: FAILED after ${seconds}: ${step.error ?? 'unknown error'}`;
  return `${step.model}: ${step.headline ?? 'done'}; ${step.outputRows ?? 0} rows from ${step.trainingRows ?? 0}, ${seconds} on ${step.backend ?? '?'} (version ${step.versionId})`;
}
