// Computes a baseline profile from reference data and the model's outputs on it: for each chosen position of
// each input (and of each non-classifier output) the quantile bin edges, the reference share of every bin,
// the share missing or not finite and the range; for classifier outputs the share of rows per top class.
// Pure: the profile command (profile-command.ts) reads the files and runs the model.
import { BASELINE_FORMAT, BaselineError, rowElements, type Baseline, type ClassesProfile, type OutputProfile, type QuantileProfile } from './baseline.ts';
import { binShares, quantileEdges } from './bins.ts';
import { argmax, numberAt, numericView } from './values.ts';
import type { Tensor } from '../protocol/datatypes.ts';

export interface ProfileSettings {
  /** Quantile bins per position (fewer where the reference has few distinct values). */
  bins: number;
  /** Most positions profiled per side (inputs, outputs) when `features` does not choose them. */
  maxFeatures: number;
  /** Input positions to profile, as `tensor[index]`; all (up to maxFeatures) when empty. */
  features: string[];
}

export interface ProfileSource {
  model: string;
  modelSha256: string;
  data: string;
}

interface Position {
  tensor: Tensor;
  width: number;
  index: number;
  name: string;
}

const rowsOf = (t: Tensor) => t.shape[0];

function positionsOf(tensors: Tensor[]): Position[] {
  const positions: Position[] = [];
  for (const tensor of tensors) {
    if (tensor.datatype === 'BYTES') continue;
    const width = rowElements(tensor.shape, true)!;
    for (let index = 0; index < width; index++) positions.push({ tensor, width, index, name: `${tensor.name}[${index}]` });
  }
  return positions;
}

/** Evenly spaced picks when there are more positions than `max` (a wide input such as an image). */
export function spread<T>(items: T[], max: number): T[] {
  if (items.length <= max) return items;
  return Array.from({ length: max }, (_, k) => items[Math.floor((k * items.length) / max)]);
}

function choose(positions: Position[], settings: ProfileSettings): Position[] {
  if (settings.features.length === 0) return spread(positions, settings.maxFeatures);
  const byName = new Map(positions.map((p) => [p.name, p]));
  return settings.features.map((name) => {
    const position = byName.get(name);
    if (!position) throw new BaselineError(`feature '${name}': the model's inputs have no such position (names look like '${positions[0]?.name ?? 'input[0]'}')`);
    return position;
  });
}

function quantileProfile(p: Position, bins: number): QuantileProfile {
  const view = numericView(p.tensor);
  const rows = rowsOf(p.tensor);
  const finite: number[] = [];
  for (let r = 0; r < rows; r++) {
    const v = numberAt(view, r * p.width + p.index);
    if (Number.isFinite(v)) finite.push(v);
  }
  const sorted = Float64Array.from(finite).sort();
  const edges = quantileEdges(sorted, bins);
  return {
    name: p.name,
    tensor: p.tensor.name,
    index: p.index,
    kind: 'quantiles',
    bins: { edges, frequencies: binShares(edges, sorted) },
    min: sorted.length > 0 ? sorted[0] : 0,
    max: sorted.length > 0 ? sorted[sorted.length - 1] : 0,
    missing: rows === 0 ? 0 : (rows - sorted.length) / rows,
  };
}

/** Rows of probabilities: every value in [0, 1] and every row summing to 1 (a softmax). */
function isClassifier(tensor: Tensor, width: number): boolean {
  if (width < 2 || !['FP16', 'FP32', 'FP64'].includes(tensor.datatype)) return false;
  const view = numericView(tensor) as ArrayLike<number>;
  for (let r = 0; r < rowsOf(tensor); r++) {
    let sum = 0;
    for (let i = 0; i < width; i++) {
      const v = view[r * width + i];
      if (!(v >= -1e-6 && v <= 1 + 1e-6)) return false;
      sum += v;
    }
    if (Math.abs(sum - 1) > 1e-3) return false;
  }
  return true;
}

function classesProfile(tensor: Tensor, width: number): ClassesProfile {
  const view = numericView(tensor) as ArrayLike<number>;
  const counts = new Array<number>(width).fill(0);
  const rows = rowsOf(tensor);
  for (let r = 0; r < rows; r++) counts[argmax(view, r * width, width)]++;
  return { name: tensor.name, tensor: tensor.name, kind: 'classes', frequencies: counts.map((c) => c / rows) };
}

/** `inputs` and `outputs` are batched tensors of the same N rows (N >= 1). */
export function computeProfile(inputs: Tensor[], outputs: Tensor[], settings: ProfileSettings, source: ProfileSource, now = new Date()): Baseline {
  const rows = inputs.length > 0 ? rowsOf(inputs[0]) : 0;
  if (rows < 1) throw new BaselineError('the reference data has no rows');
  const features = choose(positionsOf(inputs), settings).map((p) => quantileProfile(p, settings.bins));
  const outputProfiles: OutputProfile[] = [];
  const outputPositions: Position[] = [];
  for (const tensor of outputs) {
    if (tensor.datatype === 'BYTES') continue;
    const width = rowElements(tensor.shape, true)!;
    if (isClassifier(tensor, width)) outputProfiles.push(classesProfile(tensor, width));
    else outputPositions.push(...positionsOf([tensor]));
  }
  outputProfiles.push(...spread(outputPositions, settings.maxFeatures).map((p) => quantileProfile(p, settings.bins)));
  return {
    format: BASELINE_FORMAT,
    createdAt: now.toISOString(),
    source: { ...source, rows },
    inputs: features,
    outputs: outputProfiles,
  };
}
