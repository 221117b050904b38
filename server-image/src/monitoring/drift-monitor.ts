// Drift as requests flow: an observer on the inference core that counts every successful request's rows
// into the baseline's bins, per input position (feature) and per output (prediction), cumulatively (the
// counters Prometheus aggregates across pods and windows) and over a sliding window (the PSI this pod
// reports). The hot path only copies the profiled values out of a request (its input buffers move to a
// model worker before it is computed) and queues them; the binning runs after, in batches, off the request's
// way (setImmediate). Memory is bounded: rows waiting to be binned are capped, beyond it they are dropped and
// counted. Metrics read the state at scrape time (observability/drift-metrics.ts).
import { binIndex } from './bins.ts';
import { RateBudget } from './rate-budget.ts';
import { psi } from '../../../contract/psi.ts';
import { argmax, numberAt, numericView } from './values.ts';
import type { Baseline, OutputProfile, QuantileProfile } from './baseline.ts';
import type { InferenceObserver, Outputs } from '../serving/inference.ts';
import type { InferenceRequest } from '../protocol/request.ts';
import type { InferenceError } from '../protocol/errors.ts';
import type { ModelSignature } from '../model/signature.ts';
import type { Tensor } from '../protocol/datatypes.ts';

/** Rows copied and not yet binned; past it, rows are dropped (and counted) rather than held. */
export const MAX_PENDING_ROWS = 65536;
/** The sliding window is kept as this many slots; the oldest is dropped as time moves a slot on. */
const WINDOW_SLOTS = 10;

export interface DriftSettings {
  windowSeconds: number;
  /** Rows a column needs in the window before its PSI is reported (fewer make a noisy index). */
  minRows: number;
  /** Share of requests counted (1: all); shares per bin, and so PSI, need no more than a sample. */
  sampleRate: number;
  /**
   * Most rows counted per second (0: no limit): a budget of work, so that drift costs a busy server a fixed
   * amount of CPU however many requests it answers. Past it requests are left uncounted until the budget
   * refills, a sample in time that keeps the bins' shares (PSI needs thousands of rows, not millions).
   */
  maxRowsPerSecond?: number;
}

/** One tracked distribution: a position of an input or output tensor, or a classifier output's top class. */
export class DriftColumn {
  readonly name: string;
  readonly kind: 'quantiles' | 'classes';
  /** Reference share per bin. */
  readonly reference: number[];
  readonly tensor: string;
  readonly index: number;
  private readonly edges: Float64Array;
  private readonly min: number;
  private readonly max: number;
  /** Rows per bin since start (the Prometheus counters). */
  readonly totals: Float64Array;
  outOfRange = 0;
  nonFinite = 0;
  /** Rows per bin in each slot of the window, and rows per slot. */
  private readonly slots: Float64Array[];

  constructor(profile: QuantileProfile | OutputProfile) {
    this.name = profile.name;
    this.kind = profile.kind;
    this.tensor = profile.tensor;
    if (profile.kind === 'classes') {
      this.reference = profile.frequencies;
      this.index = 0;
      this.edges = new Float64Array(0);
      this.min = -Infinity;
      this.max = Infinity;
    } else {
      this.reference = profile.bins.frequencies;
      this.index = profile.index;
      this.edges = Float64Array.from(profile.bins.edges);
      this.min = profile.min;
      this.max = profile.max;
    }
    this.totals = new Float64Array(this.reference.length);
    this.slots = Array.from({ length: WINDOW_SLOTS }, () => new Float64Array(this.reference.length));
  }

  /**
   * Counts this column's value in each of `rows` captured rows: values[offset], values[offset + stride], ...
   * (for `classes`, the top class index, -1 when the row had no finite value). One call per column and
   * request, the loop over rows inside, as this runs for every request.
   */
  countRows(values: number[], offset: number, stride: number, rows: number, slot: number): void {
    const totals = this.totals;
    const window = this.slots[slot];
    const classes = this.kind === 'classes';
    const edges = this.edges;
    for (let r = 0, i = offset; r < rows; r++, i += stride) {
      const value = values[i];
      let bin: number;
      if (classes) {
        if (value < 0) {
          this.nonFinite++;
          continue;
        }
        bin = value;
      } else {
        if (value - value !== 0) { // NaN or infinite
          this.nonFinite++;
          continue;
        }
        if (value < this.min || value > this.max) this.outOfRange++;
        bin = binIndex(edges, value);
      }
      totals[bin]++;
      window[bin]++;
    }
  }

  clearSlot(slot: number): void {
    this.slots[slot].fill(0);
  }

  /** Rows per bin over the window. */
  windowCounts(): Float64Array {
    const sum = new Float64Array(this.reference.length);
    for (const slot of this.slots) for (let i = 0; i < sum.length; i++) sum[i] += slot[i];
    return sum;
  }
}

/** A column's PSI over the window, or undefined when it has fewer than `minRows` rows there. */
export function windowPsi(column: DriftColumn, minRows: number): number | undefined {
  const counts = column.windowCounts();
  let rows = 0;
  for (const c of counts) rows += c;
  return rows >= minRows ? psi(column.reference, counts) : undefined;
}

interface Captured {
  rows: number;
  /** rows x input columns, row-major. */
  inputs: number[];
  /** rows x output columns. */
  outputs: number[];
  /** Per output column, whether its tensor was computed for this request; undefined when all were (a client may ask for fewer). */
  present: boolean[] | undefined;
}

/** Where the columns of one input tensor are: their positions in a row, and their slots in a captured row. */
interface TensorReader {
  tensorIndex: number;
  /** Position in the tensor's row of each column read from it. */
  indices: Int32Array;
  /** Index of each of those columns among all input columns. */
  columns: Int32Array;
}

/**
 * Copies the columns of `tensor` for every row into `values` (rows x `stride`, row-major). Typed arrays of
 * plain numbers take the direct loop: this runs for every request, before it is queued.
 */
function copyColumns(tensor: Tensor, rows: number, reader: TensorReader, values: number[], stride: number): void {
  const { indices, columns } = reader;
  const data = tensor.data;
  const width = data.length / rows;
  if (data instanceof BigInt64Array || data instanceof BigUint64Array || tensor.datatype === 'FP16') {
    const view = numericView(tensor);
    for (let r = 0; r < rows; r++) {
      for (let k = 0; k < indices.length; k++) values[r * stride + columns[k]] = indices[k] < width ? numberAt(view, r * width + indices[k]) : NaN;
    }
    return;
  }
  const numbers = data as Float32Array;
  for (let r = 0; r < rows; r++) {
    const base = r * width;
    const out = r * stride;
    for (let k = 0; k < indices.length; k++) {
      const index = indices[k];
      values[out + columns[k]] = index < width ? numbers[base + index] : NaN;
    }
  }
}

export class DriftMonitor implements InferenceObserver {
  readonly inputs: DriftColumn[];
  readonly outputs: DriftColumn[];
  readonly settings: DriftSettings;
  /** Rows binned since start. */
  rows = 0;
  droppedRows = 0;
  private readonly readers: TensorReader[];
  private pending: Captured[] = [];
  private pendingRows = 0;
  private flushScheduled = false;
  private readonly slotMs: number;
  private currentSlot = -1;
  private readonly now: () => number;
  private readonly random: () => number;
  private readonly budget: RateBudget;
  /** Requests left uncounted by the budget (a sample, not a loss). */
  skippedRows = 0;

  constructor(baseline: Baseline, signature: ModelSignature, settings: DriftSettings, now: () => number = Date.now, random: () => number = Math.random) {
    this.settings = settings;
    this.now = now;
    this.random = random;
    this.slotMs = (settings.windowSeconds * 1000) / WINDOW_SLOTS;
    this.budget = new RateBudget(settings.maxRowsPerSecond ?? 0, now);
    this.inputs = baseline.inputs.map((p) => new DriftColumn(p));
    this.outputs = baseline.outputs.map((p) => new DriftColumn(p));
    this.readers = signature.inputs.map((spec, tensorIndex) => {
      const columns = this.inputs.flatMap((column, c) => (column.tensor === spec.name ? [c] : []));
      return { tensorIndex, columns: Int32Array.from(columns), indices: Int32Array.from(columns, (c) => this.inputs[c].index) };
    }).filter((reader) => reader.columns.length > 0);
  }

  // InferenceObserver: copy the profiled input values now, before the buffers move to a model worker.
  started(request: InferenceRequest): number[] | undefined {
    if (this.settings.sampleRate < 1 && this.random() >= this.settings.sampleRate) return undefined;
    const rows = request.rows;
    if (!this.budget.take(rows)) {
      this.skippedRows += rows;
      return undefined;
    }
    const stride = this.inputs.length;
    const values = new Array<number>(rows * stride).fill(0);
    for (const reader of this.readers) copyColumns(request.inputs[reader.tensorIndex], rows, reader, values, stride);
    return values;
  }

  finished(request: InferenceRequest, outputs: Outputs | undefined, _error: InferenceError | undefined, _seconds: number, kept: unknown): void {
    const inputs = kept as number[] | undefined;
    if (!outputs || !inputs) return;
    const rows = request.rows;
    if (this.pendingRows + rows > MAX_PENDING_ROWS) {
      this.droppedRows += rows;
      return;
    }
    const captured = this.captureOutputs(outputs, rows);
    captured.inputs = inputs;
    this.pending.push(captured);
    this.pendingRows += rows;
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(() => this.flush());
    }
  }

  private captureOutputs(outputs: Outputs, rows: number): Captured {
    const columns = this.outputs.length;
    const values = new Array<number>(rows * columns).fill(0);
    let present: boolean[] | undefined;
    for (let c = 0; c < columns; c++) {
      const column = this.outputs[c];
      const tensor = outputs.get(column.tensor);
      if (!tensor) { // not requested, so not computed
        present ??= new Array<boolean>(columns).fill(true);
        present[c] = false;
        continue;
      }
      const view = numericView(tensor);
      const width = tensor.data.length / rows;
      for (let r = 0; r < rows; r++) {
        values[r * columns + c] = column.kind === 'classes'
          ? argmax(view as ArrayLike<number>, r * width, width)
          : column.index < width ? numberAt(view, r * width + column.index) : NaN;
      }
    }
    return { rows, inputs: [], outputs: values, present };
  }

  /** Bins every captured row; runs after the requests have been answered. */
  flush(): void {
    this.flushScheduled = false;
    const batch = this.pending;
    this.pending = [];
    this.pendingRows = 0;
    const slot = this.advance();
    const inputColumns = this.inputs.length;
    const outputColumns = this.outputs.length;
    for (const { rows, inputs, outputs, present } of batch) {
      for (let c = 0; c < inputColumns; c++) this.inputs[c].countRows(inputs, c, inputColumns, rows, slot);
      for (let c = 0; c < outputColumns; c++) {
        if (present === undefined || present[c]) this.outputs[c].countRows(outputs, c, outputColumns, rows, slot);
      }
      this.rows += rows;
    }
  }

  /** Moves the window on to the current slot (clearing the slots it passed) and returns it. */
  advance(): number {
    const now = this.now();
    const absolute = Math.floor(now / this.slotMs);
    if (this.currentSlot < 0) {
      this.currentSlot = absolute;
    } else if (absolute > this.currentSlot) {
      const passed = Math.min(absolute - this.currentSlot, WINDOW_SLOTS);
      for (let k = 1; k <= passed; k++) {
        const slot = (this.currentSlot + k) % WINDOW_SLOTS;
        for (const column of this.inputs) column.clearSlot(slot);
        for (const column of this.outputs) column.clearSlot(slot);
      }
      this.currentSlot = absolute;
    }
    return absolute % WINDOW_SLOTS;
  }
}
