// Bad input never crashes the server: each malformed request gets a 4xx in the protocol's error shape with
// a message naming the input and the problem, and the server goes on answering correctly afterwards.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, postJson, type ServerProcess } from '../support/server-process.ts';
import { modelPath } from '../support/model-files.ts';
import { MLP } from '../models/zoo.ts';
import { assertClose } from '../support/assertions.ts';
import { decodeBinaryResponse, encodeBinaryRequest, typedFrom } from '../support/binary-protocol.ts';

const row = Array.from({ length: 16 }, (_, i) => i / 16);
const good = { inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 16], data: row }] };
const withInput = (input: Record<string, unknown>) => ({ inputs: [{ ...good.inputs[0], ...input }] });

describe('malformed inference requests', () => {
  let server: ServerProcess;
  let infer: string;
  before(async () => {
    server = await startServer(['--model', modelPath.mlp(), '--max-body-bytes', '8192', '--max-batch-size', '8']);
    infer = `${server.url}/v2/models/mlp/infer`;
  });
  after(async () => {
    assert.equal(await server.stop(), 0, 'the server exits cleanly after all of it');
  });

  const cases: Array<[string, unknown, RegExp]> = [
    ['malformed JSON', '{"inputs": [', /malformed JSON in request body/],
    ['a body that is not an object', '[1, 2]', /request body must be a JSON object/],
    ['inputs that is not an array', { inputs: 'x' }, /'inputs' must be an array/],
    ['an unknown input name', withInput({ name: 'pixels' }), /unknown input 'pixels'; the model's inputs are 'input'/],
    ['a missing input', { inputs: [] }, /missing input 'input'/],
    ['an input given twice', { inputs: [good.inputs[0], good.inputs[0]] }, /input 'input' is given more than once/],
    ['a wrong datatype', withInput({ datatype: 'FP64' }), /input 'input': datatype FP64 does not match the model's FP32/],
    ['an unknown datatype', withInput({ datatype: 'FLOAT' }), /input 'input': unknown datatype "FLOAT"/],
    ['a shape that does not fit the data', withInput({ shape: [2, 16] }), /input 'input': shape \[2,16\] needs 32 elements but 'data' has 16/],
    ['a wrong rank', withInput({ shape: [16] }), /input 'input': shape \[16\] has rank 1, the model expects rank 2/],
    ['a wrong fixed dimension', withInput({ shape: [1, 15], data: row.slice(1) }), /input 'input': shape \[1,15\] does not match the model's \[-1,16\] at dimension 1/],
    ['a negative dimension', withInput({ shape: [-1, 16] }), /input 'input': 'shape' must be an array of non-negative integers/],
    ['a non-finite number', `{"inputs":[{"name":"input","datatype":"FP32","shape":[1,16],"data":[1e400${',0'.repeat(15)}]}]}`, /input 'input': element 0 \(null\) is not a finite number in range for FP32|input 'input': element 0 .* is not a finite number in range for FP32/],
    ['a float beyond FP32 range', withInput({ data: [1e39, ...row.slice(1)] }), /input 'input': element 0 \(1e\+39\) is not a finite number in range for FP32/],
    ['a string among numbers', withInput({ data: ['1', ...row.slice(1)] }), /input 'input': element 0 \("1"\) is not a number for FP32/],
    ['nested data of the wrong structure', withInput({ data: [row.slice(0, 8), row.slice(8)] }), /input 'input': nested 'data' does not match shape \[1,16\]/],
    ['neither data nor binary size', withInput({ data: undefined }), /input 'input': has neither 'data' nor parameter 'binary_data_size'/],
    ['an unknown output', { ...good, outputs: [{ name: 'logits' }] }, /unknown output 'logits'; the model's outputs are 'probabilities'/],
    ['a batch over max_batch_size', withInput({ shape: [9, 16], data: Array(9).fill(row).flat() }), /batch of 9 rows exceeds the model's max_batch_size of 8/],
    ['a priority outside the levels', { ...good, parameters: { priority: 7 } }, /parameter 'priority': 7 is outside the model's priority levels 1..3/],
    ['a negative timeout', { ...good, parameters: { timeout: -5 } }, /parameter 'timeout' must be a non-negative integer/],
    ['an id that is not a string', { ...good, id: 5 }, /'id' must be a string/],
  ];

  for (const [what, body, message] of cases) {
    test(`400 for ${what}`, async () => {
      const res = await postJson(infer, body);
      assert.equal(res.status, 400, JSON.stringify(res.body));
      assert.equal(res.headers.get('content-type'), 'application/json');
      assert.match(res.body.error, message);
    });
  }

  test('413 for a body over the size limit, declared or streamed', async () => {
    const big = JSON.stringify(withInput({ data: Array(1000).fill(0.123456789) }));
    const declared = await postJson(infer, big);
    assert.equal(declared.status, 413);
    assert.match(declared.body.error, /exceeds the limit of 8192 bytes/);
    // Chunked, so the server cannot know the length up front and must count while reading.
    const stream = new ReadableStream({
      start(controller) {
        for (let i = 0; i < 10; i++) controller.enqueue(new TextEncoder().encode(' '.repeat(1000)));
        controller.close();
      },
    });
    const res = await fetch(infer, { method: 'POST', body: stream, duplex: 'half' } as RequestInit);
    assert.equal(res.status, 413);
  });

  describe('binary headers that lie about lengths', () => {
    const binaryCase = (header: object, binary: Buffer, headerLength?: string) => {
      const json = Buffer.from(JSON.stringify(header));
      return fetch(infer, {
        method: 'POST',
        headers: { 'inference-header-content-length': headerLength ?? String(json.length) },
        body: Buffer.concat([json, binary]),
      }).then(async (r) => ({ status: r.status, body: await r.json() as { error: string } }));
    };
    const input = (size: number) => ({ inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 16], parameters: { binary_data_size: size } }] });
    const floats = Buffer.from(new Float32Array(row).buffer);

    test('header length beyond the body', async () => {
      const r = await binaryCase(input(64), floats, '100000');
      assert.equal(r.status, 400);
      assert.match(r.body.error, /Inference-Header-Content-Length: 100000 exceeds the body's/);
    });
    test('header length that is not a number', async () => {
      const r = await binaryCase(input(64), floats, '12abc');
      assert.equal(r.status, 400);
      assert.match(r.body.error, /Inference-Header-Content-Length: '12abc' is not a non-negative integer/);
    });
    test('binary_data_size beyond the binary data', async () => {
      const r = await binaryCase(input(128), floats);
      assert.equal(r.status, 400);
      assert.match(r.body.error, /input 'input': binary_data_size 128 exceeds the 64 bytes of binary data left/);
    });
    test('binary_data_size that does not match the shape', async () => {
      const r = await binaryCase(input(60), floats.subarray(0, 60));
      assert.equal(r.status, 400);
      assert.match(r.body.error, /input 'input': binary_data_size 60 does not match 16 FP32 elements \(64 bytes\)/);
    });
    test('binary data left over', async () => {
      const r = await binaryCase(input(64), Buffer.concat([floats, Buffer.alloc(8)]));
      assert.equal(r.status, 400);
      assert.match(r.body.error, /binary data has 72 bytes but the inputs declare 64/);
    });
    test('a header length that cuts the JSON', async () => {
      const r = await binaryCase(input(64), floats, '10');
      assert.equal(r.status, 400);
      assert.match(r.body.error, /malformed JSON/);
    });
    test('NaN inside binary floats', async () => {
      const nan = Buffer.from(new Float32Array([NaN, ...row.slice(1)]).buffer);
      const r = await binaryCase(input(64), nan);
      assert.equal(r.status, 400);
      assert.match(r.body.error, /input 'input': element 0 is NaN; the model takes finite numbers \(the server setting allowNonFinite lets them through\)/);
    });
  });

  test('after all of that the server still answers correctly', async () => {
    const res = await postJson(infer, good);
    assert.equal(res.status, 200);
    assertClose(res.body.outputs[0].data, MLP.reference(row));
    assert.equal(server.child.exitCode, null);
  });
});

describe('non-finite numbers, accepted with allowNonFinite', () => {
  let server: ServerProcess;
  before(async () => {
    // Through the environment, as the operator passes a ModelDeployment's runtime.env.
    server = await startServer(['--model', modelPath.identity('FP32')], { env: { MODELSHIP_ALLOW_NON_FINITE: 'true' } });
  });
  after(() => server.stop());

  test('NaN and infinities in binary floats reach the model and come back (an identity model, binary answer)', async () => {
    const values = new Float32Array([NaN, Infinity, -Infinity, 1.5]);
    const { body, headers } = encodeBinaryRequest({
      inputs: [{ name: 'x', datatype: 'FP32', shape: [2, 2], data: values }],
      outputs: [{ name: 'y', binary: true }],
    });
    const res = await fetch(`${server.url}/v2/models/identity_FP32/infer`, { method: 'POST', headers, body });
    assert.equal(res.status, 200, await res.clone().text());
    const answer = decodeBinaryResponse(Buffer.from(await res.arrayBuffer()), res.headers.get('inference-header-content-length'));
    assert.deepEqual(Array.from(typedFrom(Float32Array, answer.outputs[0].bytes)), [NaN, Infinity, -Infinity, 1.5]);
  });

  test('JSON numbers beyond the datatype range are still refused: JSON has no literal for NaN, so they are typos', async () => {
    const res = await postJson(`${server.url}/v2/models/identity_FP32/infer`, { inputs: [{ name: 'x', datatype: 'FP32', shape: [1, 2], data: [1e39, 0] }] });
    assert.equal(res.status, 400);
    assert.match(res.body.error, /input 'x': element 0 \(1e\+39\) is not a finite number in range for FP32/);
  });
});
