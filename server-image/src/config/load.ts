// Resolves a command's settings from, in rising precedence: defaults, a YAML config file (`--config` or
// MODELSHIP_CONFIG), environment variables, flags. Each source is validated on its own so that an error
// names the key exactly as the user wrote it: `--max-batch-size`, `MODELSHIP_MAX_BATCH_SIZE`, or
// `serve.yaml: maxBatchSize`. The same loader serves every command; each brings its own table (spec.ts).
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import { parse as parseYaml } from 'yaml';
import { envName, flagName, optionsSchema, type OptionTable, type OptionValues } from '../../../contract/settings/spec.ts';
import { REQUIRED_OPTIONS, SERVE_OPTIONS, type ServeOptions } from '../../../contract/settings/serve-options.ts';

export class ConfigError extends Error {
  constructor(problems: string[]) {
    super(problems.join('\n'));
    this.name = 'ConfigError';
  }
}

const ajv = new Ajv({ allErrors: true, coerceTypes: true, strict: true });

function describe(table: OptionTable, error: ErrorObject, label: (key: string) => string): string {
  if (error.keyword === 'additionalProperties') {
    const key = (error.params as { additionalProperty: string }).additionalProperty;
    return `${label(key)}: unknown setting`;
  }
  // A list element's path is /key/3: the key names the setting, the index which of its values.
  const [key, index] = error.instancePath.replace(/^\//, '').split('/');
  const hint = error.keyword === 'pattern' ? table[key]?.patternHint : undefined;
  return `${label(key)}${index === undefined ? '' : `[${index}]`}: ${hint ? `must be ${hint}` : error.message}`;
}

function fromFlags(table: OptionTable, argv: string[]): { values: Record<string, unknown>; config?: string } {
  const flagOptions: Record<string, { type: 'string'; multiple?: boolean }> = { config: { type: 'string' } };
  for (const [key, spec] of Object.entries(table)) flagOptions[flagName(key)] = { type: 'string', ...(spec.kind === 'list' ? { multiple: true } : {}) };
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options: flagOptions, strict: true, allowPositionals: false });
  } catch (error) {
    throw new ConfigError([(error as Error).message.replace(/\s*To specify.*$/s, '')]);
  }
  const values: Record<string, unknown> = {};
  for (const key of Object.keys(table)) {
    const v = parsed.values[flagName(key)];
    if (v !== undefined) values[key] = v;
  }
  return { values, config: parsed.values.config as string | undefined };
}

function fromEnv(table: OptionTable, env: NodeJS.ProcessEnv): Record<string, unknown> {
  const values: Record<string, unknown> = {};
  for (const [key, spec] of Object.entries(table)) {
    const v = env[envName(key)];
    if (v === undefined || v === '') continue;
    // A list in one variable is comma-separated: MODELSHIP_UPSTREAM=v1=http://a,v2=http://b.
    values[key] = spec.kind === 'list' ? v.split(',').map((s) => s.trim()).filter(Boolean) : v;
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

function defaults(table: OptionTable): Record<string, unknown> {
  const values: Record<string, unknown> = {};
  for (const [key, spec] of Object.entries(table)) {
    if (spec.default !== undefined) values[key] = spec.default;
  }
  return values;
}

export interface OptionsLoader<T extends OptionTable> {
  /** Resolved settings; throws ConfigError listing every problem, each naming its source. */
  load(argv: string[], env: NodeJS.ProcessEnv): OptionValues<T>;
  help(): string;
}

/**
 * A loader for one command's table. `required` keys must come from some source; `check` adds the rules
 * that span settings (returning the problems found in the merged result).
 */
export function optionsLoader<T extends OptionTable>(table: T, command: { usage: string; required?: (keyof T & string)[]; check?: (merged: OptionValues<T>) => string[] }): OptionsLoader<T> {
  const validate: ValidateFunction = ajv.compile(optionsSchema(table));
  const checkSource = (values: Record<string, unknown>, label: (key: string) => string): string[] =>
    (validate(values) ? [] : (validate.errors ?? []).map((e) => describe(table, e, label)));
  return {
    load(argv, env) {
      const flags = fromFlags(table, argv);
      const envValues = fromEnv(table, env);
      const configPath = flags.config ?? env.MODELSHIP_CONFIG;
      const fileValues = configPath ? fromFile(configPath) : {};

      const problems = [
        ...checkSource(fileValues, (k) => `config file ${configPath}: ${k}`),
        ...checkSource(envValues, (k) => envName(k)),
        ...checkSource(flags.values, (k) => `--${flagName(k)}`),
      ];
      if (problems.length > 0) throw new ConfigError(problems);

      const merged = { ...defaults(table), ...fileValues, ...envValues, ...flags.values } as OptionValues<T>;
      for (const key of command.required ?? []) {
        if (merged[key] === undefined) problems.push(`--${flagName(key)} (or ${envName(key)}, or '${key}' in the config file) is required`);
      }
      if (problems.length === 0) problems.push(...(command.check?.(merged) ?? []));
      if (problems.length > 0) throw new ConfigError(problems);
      if (configPath) merged.config = configPath;
      return merged;
    },
    help() {
      const lines = [command.usage, '', 'Options (each also MODELSHIP_<NAME> in the environment, or a key in --config FILE.yaml):'];
      lines.push(`  --config FILE  YAML file of settings (camelCase keys), env MODELSHIP_CONFIG`);
      for (const [key, spec] of Object.entries(table)) {
        const dflt = spec.default !== undefined ? ` (default ${spec.default})` : '';
        const value = spec.placeholder ? ` ${spec.placeholder}` : '';
        const repeat = spec.kind === 'list' ? ' (repeatable; comma-separated in the environment)' : '';
        lines.push(`  --${flagName(key)}${value}  ${spec.description}${dflt}${repeat}  [${envName(key)}]`);
      }
      return lines.join('\n');
    },
  };
}

const serveLoader = optionsLoader(SERVE_OPTIONS, {
  usage: 'Usage: modelship-server serve --model URI [options]',
  required: REQUIRED_OPTIONS,
  check: (o) => [
    ...(o.defaultPriorityLevel > o.priorityLevels ? [`defaultPriorityLevel ${o.defaultPriorityLevel} must not exceed priorityLevels ${o.priorityLevels}`] : []),
    ...(o.cache === 'redis' && o.cacheRedisUrl === undefined ? ['cache redis requires cacheRedisUrl (--cache-redis-url or MODELSHIP_CACHE_REDIS_URL)'] : []),
    ...(o.cacheMaxEntryBytes > o.cacheMaxBytes ? [`cacheMaxEntryBytes ${o.cacheMaxEntryBytes} must not exceed cacheMaxBytes ${o.cacheMaxBytes}`] : []),
  ],
});

export function loadServeOptions(argv: string[], env: NodeJS.ProcessEnv): ServeOptions {
  return serveLoader.load(argv, env);
}

export function serveHelp(): string {
  return serveLoader.help();
}
