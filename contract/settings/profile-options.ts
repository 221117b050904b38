// Every setting of `modelship-server profile` (the baseline profile of a model's expected data), declared
// once: flag, MODELSHIP_* variable, YAML key, validation and help all come from this table (spec.ts).
import type { OptionSpec, OptionValues } from './spec.ts';

export const PROFILE_OPTIONS = {
  model: { kind: 'string', description: 'Model to profile: a path, a file:// URI or an http(s):// URL' },
  data: { kind: 'string', placeholder: 'FILE', description: 'Reference data: JSON lines (.jsonl/.json: one row per line) or NumPy .npy ([rows, ...], models with one input)' },
  out: { kind: 'string', placeholder: 'FILE', description: 'Where to write the baseline profile (JSON)' },
  bins: { kind: 'integer', default: 10, minimum: 2, maximum: 100, description: 'Quantile bins per feature and per non-classifier output position' },
  maxFeatures: { kind: 'integer', default: 256, minimum: 1, maximum: 100000, description: 'Most input positions profiled (and output positions); wider tensors are sampled at even spacing' },
  feature: { kind: 'list', placeholder: 'TENSOR[INDEX]', pattern: '^[^\\[\\]]+\\[\\d+\\]$', patternHint: "an input position such as 'input[3]' (its index in the row, flattened)", description: 'Input positions to profile, instead of all of them (up to --max-features)' },
  maxRows: { kind: 'integer', default: 100000, minimum: 1, description: 'Most rows of the reference data read' },
  batchSize: { kind: 'integer', default: 256, minimum: 1, description: 'Rows per model run while computing the outputs' },
} as const satisfies Record<string, OptionSpec>;

export type ProfileOptions = OptionValues<typeof PROFILE_OPTIONS>;
