// Builds the example ONNX models into a folder (default: this one). The models are the test suite's own
// (test/models/zoo.ts), so the demo runs exactly what the tests check against reference outputs; and the
// MLP's baseline profile (reference-data.ts).
import { fileURLToPath } from 'node:url';
import { MLP, MLP_RETRAINED, WIDE, MULTI_IO, writeModel } from '../../test/models/zoo.ts';
import { writeExampleBaseline } from './reference-data.ts';

const dir = process.argv[2] ?? fileURLToPath(new URL('.', import.meta.url));
for (const [file, model] of [['mlp.onnx', MLP], ['mlp-retrained.onnx', MLP_RETRAINED], ['wide.onnx', WIDE], ['multi.onnx', MULTI_IO]] as const) {
  console.log(`built ${writeModel(dir, file, model.build())}`);
}
console.log(`profiled ${await writeExampleBaseline(dir)} (the MLP's reference data, for the examples with spec.monitoring)`);
