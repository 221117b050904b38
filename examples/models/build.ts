// Builds the example ONNX models into a folder (default: this one). The models are the test suite's own
// (test/models/zoo.ts), so the demo runs exactly what the tests check against reference outputs.
import { fileURLToPath } from 'node:url';
import { MLP, MLP_RETRAINED, WIDE, MULTI_IO, writeModel } from '../../test/models/zoo.ts';

const dir = process.argv[2] ?? fileURLToPath(new URL('.', import.meta.url));
for (const [file, model] of [['mlp.onnx', MLP], ['mlp-retrained.onnx', MLP_RETRAINED], ['wide.onnx', WIDE], ['multi.onnx', MULTI_IO]] as const) {
  console.log(`built ${writeModel(dir, file, model.build())}`);
}
