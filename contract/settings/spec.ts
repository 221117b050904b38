// The machinery behind every command's settings table: one declaration per setting gives its flag, its
// environment variable, its YAML config key, the JSON Schema that ajv validates with and its help line.
// The tables themselves live beside it (options.ts for `serve`, route-options.ts for `route`).

export type OptionKind = 'string' | 'integer' | 'number' | 'enum' | 'boolean' | 'list';

export interface OptionSpec {
  kind: OptionKind;
  description: string;
  default?: string | number | boolean;
  minimum?: number;
  maximum?: number;
  values?: readonly string[];
  /** For 'string', and for each element of a 'list'. */
  pattern?: string;
  /** What a value must look like, said instead of the bare pattern when one does not match. */
  patternHint?: string;
  /** Shown in the help text instead of the key's own name, e.g. VERSION=URL. */
  placeholder?: string;
}

export type OptionTable = Record<string, OptionSpec>;

type ValueOf<S extends OptionSpec> = S extends { kind: 'integer' | 'number' }
  ? number
  : S extends { kind: 'boolean' }
    ? boolean
    : S extends { kind: 'list' }
      ? string[]
      : S extends { values: readonly (infer V)[] }
        ? V
        : string;

/** The resolved settings of a table: every key typed by its kind; `config` is the YAML file used, if any. */
export type OptionValues<T extends OptionTable> = { [K in keyof T]: ValueOf<T[K]> } & { config?: string };

export const flagName = (key: string) => key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
export const envName = (key: string) => `MODELSHIP_${key.replace(/[A-Z]/g, (c) => `_${c}`).toUpperCase()}`;

/** JSON Schema of a settings object (the YAML config file, and each source after coercion). */
export function optionsSchema(table: OptionTable): object {
  const properties: Record<string, object> = {};
  for (const [key, spec] of Object.entries(table)) {
    const scalar = {
      ...(spec.values ? { enum: spec.values } : {}),
      ...(spec.minimum !== undefined ? { minimum: spec.minimum } : {}),
      ...(spec.maximum !== undefined ? { maximum: spec.maximum } : {}),
      ...(spec.pattern ? { pattern: spec.pattern } : {}),
    };
    properties[key] = spec.kind === 'list'
      ? { type: 'array', description: spec.description, items: { type: 'string', ...scalar } }
      : { type: spec.kind === 'enum' ? 'string' : spec.kind, description: spec.description, ...scalar };
  }
  return { type: 'object', additionalProperties: false, properties };
}
