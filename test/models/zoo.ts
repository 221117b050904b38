// The models the tests, benchmarks and demo run, each with a reference implementation in plain
// TypeScript so that outputs are checked against independently computed values, not just shapes.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { GraphBuilder, randomFloats } from './onnx-builder.ts';
import type { Datatype } from '../../server-image/src/protocol/datatypes.ts';

export interface DenseLayer {
  inputs: number;
  outputs: number;
  weights: Float32Array; // [inputs, outputs], row-major
  bias: Float32Array;
  relu: boolean;
}

function denseLayers(widths: number[], seed: number): DenseLayer[] {
  return widths.slice(1).map((outputs, i) => {
    const inputs = widths[i];
    return {
      inputs,
      outputs,
      weights: randomFloats(inputs * outputs, seed + i * 2, 1 / Math.sqrt(inputs)),
      bias: randomFloats(outputs, seed + i * 2 + 1, 0.1),
      relu: i < widths.length - 2,
    };
  });
}

/** An MLP graph (Gemm, Relu between layers, Softmax or Identity at the end) of the given layers. */
export function buildMlp(name: string, layers: DenseLayer[], outputName: string, softmax: boolean): Uint8Array {
  const g = new GraphBuilder(name).input('input', 'FP32', ['batch', layers[0].inputs]);
  let current = 'input';
  layers.forEach((layer, i) => {
    g.constant(`W${i}`, [layer.inputs, layer.outputs], layer.weights).constant(`b${i}`, [layer.outputs], layer.bias);
    g.node('Gemm', [current, `W${i}`, `b${i}`], [`dense${i}`]);
    current = `dense${i}`;
    if (layer.relu) {
      g.node('Relu', [current], [`relu${i}`]);
      current = `relu${i}`;
    }
  });
  if (softmax) g.node('Softmax', [current], [outputName], { axis: -1 });
  else g.node('Identity', [current], [outputName]);
  return g.output(outputName, 'FP32', ['batch', layers.at(-1)!.outputs]).toBytes();
}

/** Reference forward pass in float64, row by row. */
export function mlpReference(layers: DenseLayer[], row: ArrayLike<number>, softmax: boolean): number[] {
  let x = Array.from(row);
  for (const layer of layers) {
    const y = new Array<number>(layer.outputs).fill(0);
    for (let i = 0; i < layer.inputs; i++) {
      const xi = x[i];
      if (xi === 0) continue;
      const base = i * layer.outputs;
      for (let o = 0; o < layer.outputs; o++) y[o] += xi * layer.weights[base + o];
    }
    for (let o = 0; o < layer.outputs; o++) {
      y[o] += layer.bias[o];
      if (layer.relu && y[o] < 0) y[o] = 0;
    }
    x = y;
  }
  if (!softmax) return x;
  const max = Math.max(...x);
  const exps = x.map((v) => Math.exp(v - max));
  const sum = exps.reduce((a, b) => a + b, 0);
  return exps.map((v) => v / sum);
}

/** A small classifier: 16 features, one hidden layer of 32, softmax over 4 classes. */
export const MLP = {
  name: 'mlp',
  features: 16,
  classes: 4,
  layers: denseLayers([16, 32, 4], 1),
  build(): Uint8Array {
    return buildMlp('mlp', this.layers, 'probabilities', true);
  },
  reference(row: ArrayLike<number>): number[] {
    return mlpReference(this.layers, row, true);
  },
};

/**
 * The heavier, compute-bound network: a wide MLP (512 -> 2048 -> 2048 -> 10, about 5.2 M multiply-adds
 * and 21 MB of weights per row). At batch 1 it is bound by reading the weights; batching amortises them.
 */
export const WIDE = {
  name: 'wide',
  features: 512,
  classes: 10,
  layers: denseLayers([512, 2048, 2048, 10], 100),
  build(): Uint8Array {
    return buildMlp('wide', this.layers, 'logits', false);
  },
  reference(row: ArrayLike<number>): number[] {
    return mlpReference(this.layers, row, false);
  },
};

/**
 * Several inputs and outputs of different datatypes with fixed non-batch dimensions:
 *   scaled  = features * 2 + 1        (FP32 [batch, 4])
 *   shifted = ids + 10                (INT64 [batch, 3])
 *   total   = sum(features, axis 1)   (FP32 [batch, 1])
 */
export const MULTI_IO = {
  name: 'multi',
  build(): Uint8Array {
    return new GraphBuilder('multi')
      .input('features', 'FP32', ['batch', 4])
      .input('ids', 'INT64', ['batch', 3])
      .constant('two', [], new Float32Array([2]))
      .constant('one', [], new Float32Array([1]))
      .constant('ten', [], new BigInt64Array([10n]))
      .constant('axis1', [1], new BigInt64Array([1n]))
      .node('Mul', ['features', 'two'], ['doubled'])
      .node('Add', ['doubled', 'one'], ['scaled'])
      .node('Add', ['ids', 'ten'], ['shifted'])
      .node('ReduceSum', ['features', 'axis1'], ['total'], { keepdims: 1 })
      .output('scaled', 'FP32', ['batch', 4])
      .output('shifted', 'INT64', ['batch', 3])
      .output('total', 'FP32', ['batch', 1])
      .toBytes();
  },
};

/** `y = Identity(x)` over [batch, 2] for one datatype: round-trips every codec path exactly. */
export function identityModel(datatype: Datatype): Uint8Array {
  return new GraphBuilder(`identity_${datatype}`)
    .input('x', datatype, ['batch', 2])
    .node('Identity', ['x'], ['y'])
    .output('y', datatype, ['batch', 2])
    .toBytes();
}

/** A model without a batch dimension (fixed [2, 3] input): served unbatched, max_batch_size 0. */
export function fixedShapeModel(): Uint8Array {
  return new GraphBuilder('fixed')
    .input('x', 'FP32', [2, 3])
    .constant('offset', [], new Float32Array([0.5]))
    .node('Add', ['x', 'offset'], ['y'])
    .output('y', 'FP32', [2, 3])
    .toBytes();
}

/** `y = 3 * x` over [batch, length] with a dynamic length: requests of different lengths cannot share a batch. */
export function variableLengthModel(): Uint8Array {
  return new GraphBuilder('varlen')
    .input('x', 'FP32', ['batch', 'length'])
    .constant('three', [], new Float32Array([3]))
    .node('Mul', ['x', 'three'], ['y'])
    .output('y', 'FP32', ['batch', 'length'])
    .toBytes();
}

/** Writes a model file and returns its path. */
export function writeModel(dir: string, fileName: string, bytes: Uint8Array): string {
  mkdirSync(dir, { recursive: true });
  const path = join(dir, fileName);
  writeFileSync(path, bytes);
  return path;
}

/** `count` rows of `features` deterministic values in [-1, 1), for requests whose results are checked. */
export function randomRows(count: number, features: number, seed: number): number[][] {
  const flat = randomFloats(count * features, seed);
  return Array.from({ length: count }, (_, r) => Array.from(flat.subarray(r * features, (r + 1) * features)));
}

/**
 * A deliberately slow model for tests that need a busy worker: 48 rounds of tanh(x @ W) with one shared
 * 2048x2048 weight (so the file stays 16 MB), about 200 M multiply-adds per row.
 */
export const SLOW = {
  name: 'slow',
  features: 2048,
  rounds: 48,
  build(): Uint8Array {
    const n = this.features;
    const g = new GraphBuilder('slow')
      .input('input', 'FP32', ['batch', n])
      .constant('W', [n, n], randomFloats(n * n, 77, Math.sqrt(3 / n)));
    let current = 'input';
    for (let i = 0; i < this.rounds; i++) {
      g.node('MatMul', [current, 'W'], [`mm${i}`]).node('Tanh', [`mm${i}`], [`t${i}`]);
      current = `t${i}`;
    }
    return g.node('Identity', [current], ['output']).output('output', 'FP32', ['batch', n]).toBytes();
  },
};

/**
 * The MLP classifier retrained: the same inputs and outputs, other weights (another seed), so its answers
 * disagree with MLP's on most rows. A rollout candidate that a shadow comparison must catch.
 */
export const MLP_RETRAINED = {
  ...MLP,
  layers: denseLayers([16, 32, 4], 1001),
  build(): Uint8Array {
    return buildMlp('mlp', this.layers, 'probabilities', true);
  },
  reference(row: ArrayLike<number>): number[] {
    return mlpReference(this.layers, row, true);
  },
};
