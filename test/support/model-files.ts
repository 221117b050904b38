// Builds the zoo's models into a temp folder once per test file.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MLP, MULTI_IO, SLOW, WIDE, fixedShapeModel, identityModel, variableLengthModel, writeModel } from '../models/zoo.ts';
import type { Datatype } from '../../server-image/src/protocol/datatypes.ts';

export const modelDir = mkdtempSync(join(tmpdir(), 'modelship-test-models-'));

export const modelPath = {
  mlp: () => writeModel(modelDir, 'mlp.onnx', MLP.build()),
  wide: () => writeModel(modelDir, 'wide.onnx', WIDE.build()),
  slow: () => writeModel(modelDir, 'slow.onnx', SLOW.build()),
  multi: () => writeModel(modelDir, 'multi.onnx', MULTI_IO.build()),
  fixed: () => writeModel(modelDir, 'fixed.onnx', fixedShapeModel()),
  varlen: () => writeModel(modelDir, 'varlen.onnx', variableLengthModel()),
  identity: (datatype: Datatype) => writeModel(modelDir, `identity_${datatype}.onnx`, identityModel(datatype)),
};
