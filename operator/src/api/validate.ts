// Validation of a ModelDeployment outside the API server (`modelship validate`, the operator's own check):
// the same schema with ajv, then the same rules as the CRD's CEL with the same messages, after applying
// the schema's defaults as the API server would.
import { Ajv, type ErrorObject } from 'ajv';
import { CACHE_RULES, GPU_RULES, MODEL_RULES, MONITORING_RULES, RESERVED_ENV_RULE, ROLLOUT_RULES, SCALING_RULES, SPEC_RULES, modelDeploymentSchema, rulesAt, type ValidationRule } from '../../api/v1alpha1/schema.ts';
import { GROUP, KIND, VERSION } from '../../api/v1alpha1/schema.ts';
import type { ModelDeployment } from './types.ts';

type Schema = Record<string, unknown>;

/**
 * The CRD schema is OpenAPI 3.0 with Kubernetes extensions; ajv speaks JSON Schema draft 7. Convert the
 * few differences, and refuse unknown fields (the API server would silently prune them, which hides typos)
 * except where the schema preserves them.
 */
function toJsonSchema(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(toJsonSchema);
  if (typeof node !== 'object' || node === null) return node;
  const out: Schema = {};
  for (const [key, value] of Object.entries(node as Schema)) {
    if (key.startsWith('x-kubernetes-') || key === 'format' || key === 'description') continue;
    out[key] = key === 'properties' ? Object.fromEntries(Object.entries(value as Schema).map(([k, v]) => [k, toJsonSchema(v)])) : toJsonSchema(value);
  }
  const schema = node as Schema;
  if (schema.exclusiveMinimum === true) {
    out.exclusiveMinimum = schema.minimum;
    delete out.minimum;
  }
  if (schema['x-kubernetes-int-or-string']) out.type = ['integer', 'string'];
  if (schema.properties && !schema['x-kubernetes-preserve-unknown-fields'] && schema.additionalProperties === undefined) {
    out.additionalProperties = false;
  }
  return out;
}

const ajv = new Ajv({ allErrors: true, useDefaults: true, strict: false });
const validateSchema = ajv.compile(toJsonSchema(modelDeploymentSchema) as Schema);

function describe(error: ErrorObject): string {
  const path = error.instancePath.slice(1).replace(/\//g, '.');
  if (error.keyword === 'additionalProperties') {
    const field = (error.params as { additionalProperty: string }).additionalProperty;
    return `${path ? `${path}.` : ''}${field}: unknown field`;
  }
  if (error.keyword === 'enum') return `${path}: must be one of ${(error.params as { allowedValues: unknown[] }).allowedValues.join(', ')}`;
  if (error.keyword === 'required') return `${path ? `${path}.` : ''}${(error.params as { missingProperty: string }).missingProperty}: required`;
  return `${path}: ${error.message}`;
}

function checkRules<T>(value: T | undefined, rules: ValidationRule<T>[], path: string): string[] {
  if (value === undefined) return [];
  return rules.filter((r) => !r.holds(value)).map((r) => `${path}${r.fieldPath ?? ''}: ${r.explain?.(value) ?? r.message}`);
}

/**
 * The rules the schema attaches to its nodes (`rulesAt`), checked wherever the value has such a node,
 * with the path the API server names (spec.pod.volumes[1].name).
 */
function checkAttachedRules(schema: Schema, value: unknown, path: string): string[] {
  if (value === undefined || value === null) return [];
  const errors = checkRules(value, rulesAt(schema), path);
  if (Array.isArray(value) && schema.items) return [...errors, ...value.flatMap((item, i) => checkAttachedRules(schema.items as Schema, item, `${path}[${i}]`))];
  if (typeof value === 'object' && schema.properties) {
    for (const [key, child] of Object.entries(schema.properties as Record<string, Schema>)) {
      errors.push(...checkAttachedRules(child, (value as Record<string, unknown>)[key], `${path}.${key}`));
    }
  }
  return errors;
}

export interface Validated {
  /** The object with the schema's defaults applied (as the API server stores it). */
  object: ModelDeployment;
  errors: string[];
}

export function validateModelDeployment(input: unknown): Validated {
  const object = structuredClone(input) as ModelDeployment;
  const errors: string[] = [];
  if (typeof object !== 'object' || object === null) return { object, errors: ['a ModelDeployment must be an object'] };
  if (object.apiVersion !== `${GROUP}/${VERSION}`) errors.push(`apiVersion: must be ${GROUP}/${VERSION}`);
  if (object.kind !== KIND) errors.push(`kind: must be ${KIND}`);
  if (typeof object.metadata?.name !== 'string' || object.metadata.name === '') errors.push('metadata.name: required');
  if (!validateSchema(object)) errors.push(...(validateSchema.errors ?? []).map(describe));
  else {
    errors.push(...checkRules(object.spec.model as never, MODEL_RULES, 'spec.model'));
    errors.push(...checkRules(object.spec.gpu as never, GPU_RULES, 'spec.gpu'));
    errors.push(...checkRules(object.spec.scaling as never, SCALING_RULES, 'spec.scaling'));
    errors.push(...checkRules(object.spec.rollout as never, ROLLOUT_RULES, 'spec.rollout'));
    errors.push(...checkRules(object.spec.runtime?.cache as never, CACHE_RULES, 'spec.runtime.cache'));
    errors.push(...checkRules(object.spec.monitoring as never, MONITORING_RULES, 'spec.monitoring'));
    errors.push(...checkRules(object.spec as never, SPEC_RULES, 'spec'));
    errors.push(...checkAttachedRules((modelDeploymentSchema.properties as Record<string, Schema>).spec, object.spec, 'spec'));
    errors.push(...(object.spec.runtime?.env ?? []).flatMap((item, i) => RESERVED_ENV_RULE.holds(item) ? []
      : [`spec.runtime.env[${i}]${RESERVED_ENV_RULE.fieldPath}: ${RESERVED_ENV_RULE.message(item.name)}`]));
  }
  return { object, errors };
}
