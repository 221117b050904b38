// AWS credentials for s3:// models, from the standard AWS environment, in the order the AWS SDKs use:
//   AWS_ACCESS_KEY_ID + AWS_SECRET_ACCESS_KEY (+ AWS_SESSION_TOKEN): static keys (the operator sets them from
//     a Secret with secretKeyRef, so they never appear in the Deployment);
//   AWS_ROLE_ARN + AWS_WEB_IDENTITY_TOKEN_FILE: the pod's ServiceAccount token exchanged for a role's
//     temporary credentials by STS AssumeRoleWithWebIdentity (what EKS's IRSA webhook injects);
//   neither: no credentials, for public objects.
// The STS request and its answer are pure functions; only `awsCredentials` reads a file and calls STS.
import { readFile } from 'node:fs/promises';
import { Agent, request } from 'undici';

export interface AwsCredentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
}

export class CredentialsError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CredentialsError';
  }
}

type Env = Record<string, string | undefined>;

export interface WebIdentity {
  roleArn: string;
  tokenFile: string;
  sessionName: string;
  /** STS's URL: AWS_ENDPOINT_URL_STS, else the regional endpoint. */
  stsUrl: string;
}

/** Where the credentials come from, per the environment (no I/O). */
export function credentialSource(env: Env, region: string): { kind: 'static'; credentials: AwsCredentials } | { kind: 'webIdentity'; identity: WebIdentity } | { kind: 'none' } {
  const { AWS_ACCESS_KEY_ID: accessKeyId, AWS_SECRET_ACCESS_KEY: secretAccessKey, AWS_SESSION_TOKEN: sessionToken } = env;
  if (accessKeyId || secretAccessKey) {
    if (!accessKeyId || !secretAccessKey) throw new CredentialsError('AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY must be set together');
    return { kind: 'static', credentials: { accessKeyId, secretAccessKey, ...(sessionToken ? { sessionToken } : {}) } };
  }
  if (env.AWS_ROLE_ARN && env.AWS_WEB_IDENTITY_TOKEN_FILE) {
    return {
      kind: 'webIdentity',
      identity: {
        roleArn: env.AWS_ROLE_ARN,
        tokenFile: env.AWS_WEB_IDENTITY_TOKEN_FILE,
        sessionName: env.AWS_ROLE_SESSION_NAME || 'modelship-model-download',
        stsUrl: env.AWS_ENDPOINT_URL_STS || `https://sts.${region}.amazonaws.com/`,
      },
    };
  }
  return { kind: 'none' };
}

/** The AssumeRoleWithWebIdentity request (STS's Query API: an unsigned form POST; the token is the proof). */
export function assumeRoleRequest(identity: WebIdentity, token: string): { url: string; body: string; headers: Record<string, string> } {
  const body = new URLSearchParams({
    Action: 'AssumeRoleWithWebIdentity',
    Version: '2011-06-15',
    RoleArn: identity.roleArn,
    RoleSessionName: identity.sessionName,
    WebIdentityToken: token.trim(),
    // The credentials sign one GET at start; an hour is STS's default and more than enough.
    DurationSeconds: '3600',
  }).toString();
  return { url: identity.stsUrl, body, headers: { 'content-type': 'application/x-www-form-urlencoded; charset=utf-8', accept: 'application/xml' } };
}

const field = (document: string, name: string) => new RegExp(`<${name}>([^<]{1,4096})</${name}>`).exec(document)?.[1]?.trim();

/** The temporary credentials in STS's answer, or an error that says what STS said (never the token). */
export function parseAssumeRoleResponse(status: number, document: string): AwsCredentials {
  if (status < 200 || status > 299) {
    const code = field(document, 'Code');
    const message = field(document, 'Message');
    throw new CredentialsError(`STS AssumeRoleWithWebIdentity refused: HTTP ${status}${code ? ` ${code}` : ''}${message ? `: ${message.slice(0, 256)}` : ''}`);
  }
  const accessKeyId = field(document, 'AccessKeyId');
  const secretAccessKey = field(document, 'SecretAccessKey');
  const sessionToken = field(document, 'SessionToken');
  if (!accessKeyId || !secretAccessKey || !sessionToken) throw new CredentialsError('STS AssumeRoleWithWebIdentity answered without AccessKeyId, SecretAccessKey and SessionToken');
  return { accessKeyId, secretAccessKey, sessionToken };
}

/** Most bytes of STS's answer read (a real one is under 2 KiB). */
const STS_MAX_BYTES = 64 * 1024;

/** The credentials the environment gives, asking STS for them where it names a role; undefined: none. */
export async function awsCredentials(env: Env, region: string, timeoutMs: number, signal?: AbortSignal): Promise<AwsCredentials | undefined> {
  const source = credentialSource(env, region);
  if (source.kind === 'none') return undefined;
  if (source.kind === 'static') return source.credentials;
  let token: string;
  try {
    token = await readFile(source.identity.tokenFile, 'utf8');
  } catch (error) {
    throw new CredentialsError(`cannot read the web identity token ${source.identity.tokenFile} (AWS_WEB_IDENTITY_TOKEN_FILE): ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
  const { url, body, headers } = assumeRoleRequest(source.identity, token);
  const agent = new Agent({ connect: { timeout: timeoutMs }, headersTimeout: timeoutMs, bodyTimeout: timeoutMs });
  try {
    const response = await request(url, { method: 'POST', body, headers, dispatcher: agent, signal });
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of response.body) {
      size += chunk.length;
      if (size > STS_MAX_BYTES) {
        response.body.destroy();
        throw new CredentialsError(`STS answered more than ${STS_MAX_BYTES} bytes`);
      }
      chunks.push(chunk);
    }
    return parseAssumeRoleResponse(response.statusCode, Buffer.concat(chunks).toString('utf8'));
  } catch (error) {
    if (error instanceof CredentialsError) throw error;
    throw new CredentialsError(`cannot reach STS at ${new URL(url).origin}: ${(error as Error).message}`);
  } finally {
    await agent.destroy();
  }
}
