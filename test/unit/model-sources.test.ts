// The pure parts of the model sources: s3:// URIs and object URLs, the store's refusals in words, where AWS
// credentials come from, the STS AssumeRoleWithWebIdentity request and answer, and --download-headers.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { assumeRoleRequest, credentialSource, parseAssumeRoleResponse } from '../../server-image/src/model/credentials.ts';
import { parseHeaderLines } from '../../server-image/src/model/header-lines.ts';
import { describeRefusal, objectUrl, parseS3Uri, signedHeaders } from '../../server-image/src/model/s3.ts';

describe('s3:// URIs', () => {
  test('bucket and key are split at the first slash; the key keeps its slashes', () => {
    assert.deepEqual(parseS3Uri('s3://models/team/mlp/v1/model.onnx'), { bucket: 'models', key: 'team/mlp/v1/model.onnx' });
  });

  test('a missing key, an empty key or a bucket that S3 cannot name is refused, saying which', () => {
    assert.throws(() => parseS3Uri('s3://models'), /an S3 model is s3:\/\/bucket\/key/);
    assert.throws(() => parseS3Uri('s3://models/'), /the object key is empty/);
    assert.throws(() => parseS3Uri('s3://Models_Bucket/m.onnx'), /"Models_Bucket" is not an S3 bucket name/);
  });

  test('path-style URLs put the bucket in the path at the endpoint; virtual-hosted ones in the host name', () => {
    const location = { bucket: 'models', key: 'a b/m+(1).onnx' };
    assert.equal(objectUrl(location, { endpoint: 'http://127.0.0.1:9000', region: 'us-east-1', pathStyle: true }).href, 'http://127.0.0.1:9000/models/a%20b/m%2B%281%29.onnx');
    assert.equal(objectUrl(location, { region: 'eu-west-1', pathStyle: false }).href, 'https://models.s3.eu-west-1.amazonaws.com/a%20b/m%2B%281%29.onnx');
  });

  test('a signed GET carries the credential scope and the signed headers, and leaves Host to the client', async () => {
    const url = new URL('http://127.0.0.1:9000/models/m.onnx');
    const headers = await signedHeaders(url, 'eu-west-1', { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'secret', sessionToken: 'token' }, new Date('2026-12-01T12:00:00Z'));
    assert.match(headers.authorization!, /^AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE\/20261201\/eu-west-1\/s3\/aws4_request, SignedHeaders=host;x-amz-content-sha256;x-amz-date;x-amz-security-token, Signature=[0-9a-f]{64}$/);
    assert.equal(headers['x-amz-date'], '20261201T120000Z');
    assert.equal(headers['x-amz-security-token'], 'token');
    assert.equal(headers.host, undefined);
    assert.deepEqual(await signedHeaders(url, 'eu-west-1', undefined), {}, 'no credentials: an anonymous GET of a public object');
  });

  test("a store's refusal is told by its error code and message; an answer that is no S3 error document by its status", () => {
    assert.equal(describeRefusal(403, '<?xml version="1.0"?><Error><Code>SignatureDoesNotMatch</Code><Message>The request signature we calculated does not match</Message></Error>'),
      'HTTP 403 SignatureDoesNotMatch: The request signature we calculated does not match (check the access key and secret key the server was given)');
    assert.equal(describeRefusal(404, '<Error><Code>NoSuchKey</Code></Error>'), 'HTTP 404 NoSuchKey (check spec.model.uri)');
    assert.equal(describeRefusal(502, '<html>bad gateway</html>'), 'HTTP 502');
  });
});

describe('AWS credentials', () => {
  test('static keys win; one without the other is refused', () => {
    assert.deepEqual(credentialSource({ AWS_ACCESS_KEY_ID: 'a', AWS_SECRET_ACCESS_KEY: 's', AWS_ROLE_ARN: 'r', AWS_WEB_IDENTITY_TOKEN_FILE: 't' }, 'us-east-1'),
      { kind: 'static', credentials: { accessKeyId: 'a', secretAccessKey: 's' } });
    assert.throws(() => credentialSource({ AWS_ACCESS_KEY_ID: 'a' }, 'us-east-1'), /AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY must be set together/);
  });

  test('a role and a token file mean web identity at the regional STS, unless AWS_ENDPOINT_URL_STS says where; nothing means anonymous', () => {
    const source = credentialSource({ AWS_ROLE_ARN: 'arn:aws:iam::1:role/r', AWS_WEB_IDENTITY_TOKEN_FILE: '/var/run/secrets/eks.amazonaws.com/serviceaccount/token' }, 'eu-west-1');
    assert.deepEqual(source, { kind: 'webIdentity', identity: { roleArn: 'arn:aws:iam::1:role/r', tokenFile: '/var/run/secrets/eks.amazonaws.com/serviceaccount/token', sessionName: 'modelship-model-download', stsUrl: 'https://sts.eu-west-1.amazonaws.com/' } });
    const custom = credentialSource({ AWS_ROLE_ARN: 'r', AWS_WEB_IDENTITY_TOKEN_FILE: 't', AWS_ENDPOINT_URL_STS: 'http://sts.local/' }, 'eu-west-1');
    assert.equal(custom.kind === 'webIdentity' && custom.identity.stsUrl, 'http://sts.local/');
    assert.deepEqual(credentialSource({}, 'us-east-1'), { kind: 'none' });
  });

  test('the AssumeRoleWithWebIdentity request is the Query API form STS documents, the token trimmed', () => {
    const { url, body, headers } = assumeRoleRequest({ roleArn: 'arn:aws:iam::1:role/r', tokenFile: 't', sessionName: 's', stsUrl: 'https://sts.us-east-1.amazonaws.com/' }, 'jwt.token.value\n');
    assert.equal(url, 'https://sts.us-east-1.amazonaws.com/');
    assert.equal(headers['content-type'], 'application/x-www-form-urlencoded; charset=utf-8');
    assert.deepEqual(Object.fromEntries(new URLSearchParams(body)), {
      Action: 'AssumeRoleWithWebIdentity', Version: '2011-06-15', RoleArn: 'arn:aws:iam::1:role/r', RoleSessionName: 's', WebIdentityToken: 'jwt.token.value', DurationSeconds: '3600',
    });
  });

  test("STS's answer gives temporary credentials; its refusal is told by its code", () => {
    assert.deepEqual(parseAssumeRoleResponse(200, '<AssumeRoleWithWebIdentityResponse><AssumeRoleWithWebIdentityResult><Credentials><AccessKeyId>ASIA1</AccessKeyId><SecretAccessKey>sk</SecretAccessKey><SessionToken>st</SessionToken></Credentials></AssumeRoleWithWebIdentityResult></AssumeRoleWithWebIdentityResponse>'),
      { accessKeyId: 'ASIA1', secretAccessKey: 'sk', sessionToken: 'st' });
    assert.throws(() => parseAssumeRoleResponse(403, '<ErrorResponse><Error><Type>Sender</Type><Code>AccessDenied</Code><Message>Not authorized to perform sts:AssumeRoleWithWebIdentity</Message></Error></ErrorResponse>'),
      /STS AssumeRoleWithWebIdentity refused: HTTP 403 AccessDenied: Not authorized to perform sts:AssumeRoleWithWebIdentity/);
    assert.throws(() => parseAssumeRoleResponse(200, '<html></html>'), /answered without AccessKeyId, SecretAccessKey and SessionToken/);
  });
});

describe('--download-headers', () => {
  test('"Name: value" lines become headers; blank lines are skipped', () => {
    assert.deepEqual(parseHeaderLines('Authorization: Bearer abc.def\n\nX-Api-Key:  k1 \n'), { authorization: 'Bearer abc.def', 'x-api-key': 'k1' });
  });

  test('a malformed line is refused by its number, never echoing the value', () => {
    assert.throws(() => parseHeaderLines('Authorization Bearer secret-token'), (e: Error) => e.message === 'downloadHeaders line 1: not "Name: value"');
    assert.throws(() => parseHeaderLines('X-Ok: 1\nBad Name: secret-token'), /downloadHeaders line 2: "Bad Name" is not a header name/);
    assert.throws(() => parseHeaderLines('Host: other.example'), /Host is set by the download itself/);
    assert.throws(() => parseHeaderLines('A: 1\na: 2'), /line 2: a is given twice/);
  });
});
