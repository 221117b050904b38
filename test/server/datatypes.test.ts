// Every datatype ONNX models use travels through the server exactly, as JSON and as binary tensors:
// identity models return what they were sent, bit for bit.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, postJson, type ServerProcess } from '../support/server-process.ts';
import { modelPath } from '../support/model-files.ts';
import { decodeBinaryResponse, decodeBinaryStrings, encodeBinaryRequest, typedFrom, type BinaryInput } from '../support/binary-protocol.ts';

interface Case {
  datatype: string;
  json: unknown[];
  /** The same four values as raw elements, for the binary extension. */
  raw: BinaryInput['data'];
  ctor?: { new (buffer: ArrayBuffer): ArrayLike<unknown> };
}

const CASES: Case[] = [
  { datatype: 'FP32', json: [1.5, -2.25, Math.fround(3.4e38), 0], raw: new Float32Array([1.5, -2.25, 3.4e38, 0]), ctor: Float32Array },
  { datatype: 'FP64', json: [1e300, -0.1, 2.5, 0], raw: new Float64Array([1e300, -0.1, 2.5, 0]), ctor: Float64Array },
  // FP16 has 11 bits of precision: these values are exact in it.
  { datatype: 'FP16', json: [1, -2.5, 65504, 0.00006103515625], raw: new Uint16Array([0x3c00, 0xc100, 0x7bff, 0x0400]), ctor: Uint16Array },
  { datatype: 'INT8', json: [-128, 127, 0, 5], raw: new Int8Array([-128, 127, 0, 5]), ctor: Int8Array },
  { datatype: 'INT16', json: [-32768, 32767, 0, 5], raw: new Int16Array([-32768, 32767, 0, 5]), ctor: Int16Array },
  { datatype: 'INT32', json: [-2147483648, 2147483647, 0, 5], raw: new Int32Array([-2147483648, 2147483647, 0, 5]), ctor: Int32Array },
  { datatype: 'INT64', json: [-9007199254740991, 9007199254740991, 0, 5], raw: new BigInt64Array([-(2n ** 62n), 2n ** 62n, 0n, 5n]), ctor: BigInt64Array },
  { datatype: 'UINT8', json: [0, 255, 1, 2], raw: new Uint8Array([0, 255, 1, 2]), ctor: Uint8Array },
  { datatype: 'UINT16', json: [0, 65535, 1, 2], raw: new Uint16Array([0, 65535, 1, 2]), ctor: Uint16Array },
  { datatype: 'UINT32', json: [0, 4294967295, 1, 2], raw: new Uint32Array([0, 4294967295, 1, 2]), ctor: Uint32Array },
  { datatype: 'UINT64', json: [0, 9007199254740991, 1, 2], raw: new BigUint64Array([0n, 2n ** 63n + 7n, 1n, 2n]), ctor: BigUint64Array },
  { datatype: 'BOOL', json: [true, false, false, true], raw: new Uint8Array([1, 0, 0, 1]), ctor: Uint8Array },
  { datatype: 'BYTES', json: ['héllo', '', 'a b', '☃'], raw: ['héllo', '', 'a b', '☃'] },
];

for (const c of CASES) {
  describe(`${c.datatype} round-trips through an identity model`, () => {
    let server: ServerProcess;
    before(async () => {
      server = await startServer(['--model', modelPath.identity(c.datatype as never), '--name', 'id']);
    });
    after(() => server.stop());

    test('as JSON', async () => {
      const { status, body } = await postJson(`${server.url}/v2/models/id/infer`, {
        inputs: [{ name: 'x', datatype: c.datatype, shape: [2, 2], data: c.json }],
      });
      assert.equal(status, 200, JSON.stringify(body));
      assert.deepEqual(body.outputs[0], { name: 'y', datatype: c.datatype, shape: [2, 2], data: c.json });
    });

    test('as binary tensors', async () => {
      const { body, headers } = encodeBinaryRequest({
        inputs: [{ name: 'x', datatype: c.datatype, shape: [2, 2], data: c.raw }],
        outputs: [{ name: 'y', binary: true }],
      });
      const res = await fetch(`${server.url}/v2/models/id/infer`, { method: 'POST', headers, body });
      const raw = Buffer.from(await res.arrayBuffer());
      assert.equal(res.status, 200, raw.toString());
      const [out] = decodeBinaryResponse(raw, res.headers.get('inference-header-content-length')).outputs;
      assert.deepEqual([out.name, out.datatype, out.shape], ['y', c.datatype, [2, 2]]);
      if (c.ctor) assert.deepEqual(Array.from(typedFrom(c.ctor, out.bytes)), Array.from(c.raw as ArrayLike<unknown>));
      else assert.deepEqual(decodeBinaryStrings(out.bytes), c.raw);
    });
  });
}
