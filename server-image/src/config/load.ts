// Resolves the server's settings from, in rising precedence: defaults, a YAML config file (`--config` or
// MODELSHIP_CONFIG), environment variables, flags. Each source is validated on its own so that an error
// names the key exactly as the user wrote it: `--max-batch-size`, `MODELSHIP_MAX_BATCH_SIZE`, or
// `serve.yaml: maxBatchSize`.
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { Ajv, type ErrorObject } from 'ajv';
import { parse as parseYaml } from 'yaml';
import {
  SERVE_OPTIONS, REQUIRED_OPTIONS, envName, flagName, optionsSchema,
  type OptionSpec, type ServeOptionKey, type ServeOptions,
} from './options.ts';

export class ConfigError extends Error {
  constructor(problems: string[]) {
    super(problems.join('\n'));
    this.name = 'ConfigError';
  }
}

const ajv = new Ajv({ allErrors: true, coerceTypes: true, strict: true });
const validate = ajv.compile<Partial<ServeOptions>>(optionsSchema());
const KEYS = Object.keys(SERVE_OPTIONS) as ServeOptionKey[];

function describe(error: ErrorObject, label: (key: string) => string): string {
  if (error.keyword === 'additionalProperties') {
    const key = (error.params as { additionalProperty: string }).additionalProperty;
    return `${label(key)}: unknown setting`;
  }
  const key = error.instancePath.replace(/^\//, '');
  return `${label(key)}: ${error.message}`;
}

function checkSource(values: Record<string, unknown>, label: (key: string) => string): string[] {
  if (validate(values)) return [];
  return (validate.errors ?? []).map((e) => describe(e, label));
}

function fromFlags(argv: string[]): { values: Record<string, unknown>; config?: string } {
  const flagOptions: Record<string, { type: 'string' }> = { config: { type: 'string' } };
  for (const key of KEYS) flagOptions[flagName(key)] = { type: 'string' };
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options: flagOptions, strict: true, allowPositionals: false });
  } catch (error) {
    throw new ConfigError([(error as Error).message.replace(/\s*To specify.*$/s, '')]);
  }
  const values: Record<string, unknown> = {};
  for (const key of KEYS) {
    const v = parsed.values[flagName(key)];
    if (v !== undefined) values[key] = v;
  }
  return { values, config: parsed.values.config as string | undefined };
}

function fromEnv(env: NodeJS.ProcessEnv): Record<string, unknown> {
  const values: Record<string, unknown> = {};
  for (const key of KEYS) {
    const v = env[envName(key)];
    if (v !== undefined && v !== '') values[key] = v;
  }
  return values;
}

function fromFile(path: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new ConfigError([`config file ${path}: ${(error as Error).message}`]);
  }
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (error) {
    throw new ConfigError([`config file ${path}: invalid YAML: ${(error as Error).message}`]);
  }
  if (doc === null || doc === undefined) return {};
  if (typeof doc !== 'object' || Array.isArray(doc)) throw new ConfigError([`config file ${path}: must be a mapping of settings`]);
  return doc as Record<string, unknown>;
}

function defaults(): Record<string, unknown> {
  const values: Record<string, unknown> = {};
  for (const [key, spec] of Object.entries(SERVE_OPTIONS) as [string, OptionSpec][]) {
    if (spec.default !== undefined) values[key] = spec.default;
  }
  return values;
}

export function loadServeOptions(argv: string[], env: NodeJS.ProcessEnv): ServeOptions {
  const flags = fromFlags(argv);
  const envValues = fromEnv(env);
  const configPath = flags.config ?? env.MODELSHIP_CONFIG;
  const fileValues = configPath ? fromFile(configPath) : {};

  const problems = [
    ...checkSource(fileValues, (k) => `config file ${configPath}: ${k}`),
    ...checkSource(envValues, (k) => envName(k)),
    ...checkSource(flags.values, (k) => `--${flagName(k)}`),
  ];
  if (problems.length > 0) throw new ConfigError(problems);

  const merged = { ...defaults(), ...fileValues, ...envValues, ...flags.values } as ServeOptions;
  for (const key of REQUIRED_OPTIONS) {
    if (merged[key] === undefined) problems.push(`--${flagName(key)} (or ${envName(key)}, or '${key}' in the config file) is required`);
  }
  if (merged.defaultPriorityLevel > merged.priorityLevels) {
    problems.push(`defaultPriorityLevel ${merged.defaultPriorityLevel} must not exceed priorityLevels ${merged.priorityLevels}`);
  }
  if (problems.length > 0) throw new ConfigError(problems);
  if (configPath) merged.config = configPath;
  return merged;
}

export function serveHelp(): string {
  const lines = ['Usage: modelship-server serve --model URI [options]', '', 'Options (each also MODELSHIP_<NAME> in the environment, or a key in --config FILE.yaml):'];
  lines.push(`  --config FILE  YAML file of settings (camelCase keys), env MODELSHIP_CONFIG`);
  for (const [key, spec] of Object.entries(SERVE_OPTIONS) as [string, OptionSpec][]) {
    const dflt = spec.default !== undefined ? ` (default ${spec.default})` : '';
    lines.push(`  --${flagName(key)}  ${spec.description}${dflt}  [${envName(key)}]`);
  }
  return lines.join('\n');
}
