// The baseline profile: what the model's inputs and outputs looked like on reference data, written once by
// `modelship-server profile` and read by `serve --baseline` to measure drift against. A versioned JSON
// document (the README's "Baseline profile" section documents every field), checked on load with the JSON
// Schema below and then with the rules a schema cannot say (ascending edges, one share per bin, shares that
// sum to 1, tensors and positions the model has). Every refusal names the field. Pure.
import { Ajv, type ErrorObject } from 'ajv';
import type { ModelSignature } from '../model/signature.ts';
import { elementCount } from '../protocol/datatypes.ts';

export const BASELINE_FORMAT = 'modelship.dev/baseline/v1';

/** Quantile bins: edges.length + 1 bins (binIndex in bins.ts) and the reference share of each. */
export interface Bins {
  edges: number[];
  frequencies: number[];
}

/** One position of a tensor's row (its elements after the batch dimension, flattened row-major). */
export interface QuantileProfile {
  /** `tensor[index]`: the metric label. */
  name: string;
  tensor: string;
  index: number;
  kind: 'quantiles';
  bins: Bins;
  /** Range of the finite reference values: live values outside it count as out of range. */
  min: number;
  max: number;
  /** Share of reference values that were missing or not finite. */
  missing: number;
}

/** A classifier's output (rows of class probabilities): the share of rows whose top class is each class. */
export interface ClassesProfile {
  name: string;
  tensor: string;
  kind: 'classes';
  frequencies: number[];
}

export type OutputProfile = QuantileProfile | ClassesProfile;

export interface Baseline {
  format: typeof BASELINE_FORMAT;
  createdAt: string;
  source: { model: string; modelSha256: string; data: string; rows: number };
  inputs: QuantileProfile[];
  outputs: OutputProfile[];
}

const number = { type: 'number' };
const share = { type: 'number', minimum: 0, maximum: 1 };
const name = { type: 'string', minLength: 1, maxLength: 256 };
const bins = {
  type: 'object', additionalProperties: false, required: ['edges', 'frequencies'],
  properties: { edges: { type: 'array', maxItems: 1000, items: number }, frequencies: { type: 'array', minItems: 1, maxItems: 1001, items: share } },
};
const quantiles = {
  type: 'object', additionalProperties: false, required: ['name', 'tensor', 'index', 'kind', 'bins', 'min', 'max', 'missing'],
  properties: {
    name, tensor: name, index: { type: 'integer', minimum: 0 }, kind: { const: 'quantiles' }, bins, min: number, max: number, missing: share,
  },
};
const classes = {
  type: 'object', additionalProperties: false, required: ['name', 'tensor', 'kind', 'frequencies'],
  properties: { name, tensor: name, kind: { const: 'classes' }, frequencies: { type: 'array', minItems: 2, maxItems: 100000, items: share } },
};

/** JSON Schema (draft 7) of BASELINE_FORMAT. */
export const BASELINE_SCHEMA = {
  type: 'object',
  additionalProperties: false,
  required: ['format', 'createdAt', 'source', 'inputs', 'outputs'],
  properties: {
    format: { const: BASELINE_FORMAT },
    createdAt: { type: 'string' },
    source: {
      type: 'object', additionalProperties: false, required: ['model', 'modelSha256', 'data', 'rows'],
      properties: { model: { type: 'string' }, modelSha256: { type: 'string', pattern: '^[0-9a-f]{64}$' }, data: { type: 'string' }, rows: { type: 'integer', minimum: 1 } },
    },
    inputs: { type: 'array', maxItems: 100000, items: quantiles },
    // Each output entry is one kind or the other; `kind` says which, so errors name the right fields.
    outputs: { type: 'array', maxItems: 100000, items: { type: 'object', required: ['kind'], properties: { kind: { enum: ['quantiles', 'classes'] } }, if: { properties: { kind: { const: 'classes' } } }, then: classes, else: quantiles } },
  },
};

export class BaselineError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'BaselineError';
  }
}

const validate = new Ajv({ allErrors: false, strict: true, strictTuples: false }).compile(BASELINE_SCHEMA);

/** `/inputs/3/bins/edges` as `inputs[3].bins.edges`. */
function fieldOf(path: string): string {
  return path.split('/').slice(1).map((p) => (/^\d+$/.test(p) ? `[${p}]` : `.${p}`)).join('').replace(/^\./, '') || '(document)';
}

function describe(error: ErrorObject): string {
  const field = fieldOf(error.instancePath);
  switch (error.keyword) {
    case 'additionalProperties':
      return `${field === '(document)' ? '' : `${field}.`}${(error.params as { additionalProperty: string }).additionalProperty}: unknown field`;
    case 'required':
      return `${field === '(document)' ? '' : `${field}.`}${(error.params as { missingProperty: string }).missingProperty}: is required`;
    case 'const':
      return `${field}: must be ${JSON.stringify((error.params as { allowedValue: unknown }).allowedValue)}`;
    default:
      return `${field}: ${error.message}`;
  }
}

function checkBins(field: string, value: Bins): void {
  const { edges, frequencies } = value;
  for (let i = 1; i < edges.length; i++) {
    if (!(edges[i] > edges[i - 1])) throw new BaselineError(`${field}.edges[${i}]: must be greater than the edge before it (${edges[i - 1]})`);
  }
  if (frequencies.length !== edges.length + 1) {
    throw new BaselineError(`${field}.frequencies: has ${frequencies.length} entries, but ${edges.length} edges make ${edges.length + 1} bins`);
  }
  checkShares(`${field}.frequencies`, frequencies);
}

function checkShares(field: string, frequencies: number[]): void {
  const sum = frequencies.reduce((a, b) => a + b, 0);
  // All 0 is allowed: a feature whose reference values were all missing.
  if (sum !== 0 && Math.abs(sum - 1) > 1e-6) throw new BaselineError(`${field}: shares must sum to 1, they sum to ${sum}`);
}

/** Parses and checks a baseline document; throws a BaselineError naming the field at fault. */
export function parseBaseline(text: string): Baseline {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (error) {
    throw new BaselineError(`not JSON: ${(error as Error).message}`);
  }
  const format = (doc as { format?: unknown } | null)?.format;
  if (typeof format === 'string' && format !== BASELINE_FORMAT && format.startsWith('modelship.dev/baseline/')) {
    throw new BaselineError(`format: ${JSON.stringify(format)} is not a version this server reads (${BASELINE_FORMAT})`);
  }
  if (!validate(doc)) throw new BaselineError(describe(validate.errors![0]));
  const baseline = doc as unknown as Baseline;
  baseline.inputs.forEach((f, i) => checkBins(`inputs[${i}].bins`, f.bins));
  baseline.outputs.forEach((o, i) => (o.kind === 'classes' ? checkShares(`outputs[${i}].frequencies`, o.frequencies) : checkBins(`outputs[${i}].bins`, o.bins)));
  const names = new Set<string>();
  for (const [list, entries] of [['inputs', baseline.inputs], ['outputs', baseline.outputs]] as const) {
    entries.forEach((entry, i) => {
      if (names.has(entry.name)) throw new BaselineError(`${list}[${i}].name: '${entry.name}' appears more than once`);
      names.add(entry.name);
    });
  }
  return baseline;
}

/** Elements in one row of a tensor (the batch dimension left out); undefined while a dimension is dynamic. */
export function rowElements(shape: number[], batchable: boolean): number | undefined {
  const row = batchable ? shape.slice(1) : shape;
  return row.some((d) => d < 0) ? undefined : elementCount(row);
}

/** Checks that every profiled tensor and position exists in the model served; throws a BaselineError. */
export function checkBaselineFits(baseline: Baseline, signature: ModelSignature): void {
  const check = (list: 'inputs' | 'outputs', i: number, entry: QuantileProfile | ClassesProfile, specs: ModelSignature['inputs']) => {
    const spec = specs.find((s) => s.name === entry.tensor);
    if (!spec) throw new BaselineError(`${list}[${i}].tensor: the model has no ${list.slice(0, -1)} '${entry.tensor}' (it has ${specs.map((s) => `'${s.name}'`).join(', ')})`);
    if (spec.datatype === 'BYTES') throw new BaselineError(`${list}[${i}].tensor: '${entry.tensor}' is BYTES, which has no numeric distribution`);
    const width = rowElements(spec.shape, signature.batchable);
    if (entry.kind === 'classes') {
      if (width !== entry.frequencies.length) throw new BaselineError(`${list}[${i}].frequencies: ${entry.frequencies.length} classes, but a row of '${entry.tensor}' has ${width ?? 'a dynamic number of'} elements`);
    } else if (width !== undefined && entry.index >= width) {
      throw new BaselineError(`${list}[${i}].index: ${entry.index} is past the ${width} elements of a row of '${entry.tensor}'`);
    }
  };
  baseline.inputs.forEach((f, i) => check('inputs', i, f, signature.inputs));
  baseline.outputs.forEach((o, i) => check('outputs', i, o, signature.outputs));
}
