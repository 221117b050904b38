// The route table: the contract between the operator (which writes it as JSON under key `routes.json` of
// the routes ConfigMap) and the router (which parses and checks it here, purely; a problem names the key at
// fault). One definition for both halves: the operator's renderer is typed by it and tested against it.
//
//   { "versions": [ { "name": "v8", "url": "http://iris-v8.ns.svc:8080", "weight": 20 },
//                   { "name": "v7", "url": "http://iris-v7.ns.svc:8080", "weight": 80 } ],
//     "shadow": { "version": "v8", "percent": 25 },
//     "stickyHeader": "x-user-id" }
import { Ajv, type ErrorObject } from 'ajv';
import { parse as parseYaml } from 'yaml';

/** The routes ConfigMap's key that holds the table. */
export const ROUTES_KEY = 'routes.json';

export interface RouteVersion {
  name: string;
  url: string;
  /** Integer percent of traffic, 0..100; the weights of a table sum to 100. */
  weight: number;
}

export interface RouteTable {
  /** In the operator's order (the candidate first): sticky hashing lays out weight ranges in this order. */
  versions: RouteVersion[];
  shadow?: { version: string; percent: number };
  /** Lower-cased header name whose value pins a client to one version. */
  stickyHeader?: string;
}

export class RouteTableError extends Error {
  constructor(source: string, problems: string[]) {
    super(problems.map((p) => `${source}: ${p}`).join('\n'));
    this.name = 'RouteTableError';
  }
}

const NAME = '^[A-Za-z0-9][A-Za-z0-9_.-]*$';
// RFC 9110 token characters: what an HTTP header name may hold.
const HEADER = "^[!#$%&'*+.^_`|~0-9A-Za-z-]+$";

const schema = {
  type: 'object',
  additionalProperties: false,
  required: ['versions'],
  properties: {
    versions: {
      type: 'array',
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['name', 'url', 'weight'],
        properties: {
          name: { type: 'string', pattern: NAME },
          url: { type: 'string', pattern: '^https?://[^\\s/?#]+(/[^\\s?#]*)?$' },
          weight: { type: 'integer', minimum: 0, maximum: 100 },
        },
      },
    },
    shadow: {
      type: 'object',
      additionalProperties: false,
      required: ['version', 'percent'],
      properties: {
        version: { type: 'string', pattern: NAME },
        percent: { type: 'number', minimum: 0, maximum: 100 },
      },
    },
    stickyHeader: { type: 'string', pattern: HEADER },
  },
};
const validate = new Ajv({ allErrors: true, strict: true }).compile<RouteTable>(schema);

/** `/versions/1/weight` as `versions[1].weight`, the way the key reads in the file. */
function keyOf(error: ErrorObject): string {
  const path = error.instancePath.replace(/\/(\d+)/g, '[$1]').replace(/^\//, '').replace(/\//g, '.');
  if (error.keyword === 'additionalProperties') {
    const extra = (error.params as { additionalProperty: string }).additionalProperty;
    return path ? `${path}.${extra}` : extra;
  }
  if (error.keyword === 'required') {
    const missing = (error.params as { missingProperty: string }).missingProperty;
    return path ? `${path}.${missing}` : missing;
  }
  return path || '(the table)';
}

/** What a value must look like, for the keys whose pattern would say it less clearly. */
const PATTERN_HINTS: Record<string, string> = {
  url: 'an http:// or https:// URL (host, optional port and path; no query)',
  name: 'a version name: letters, digits, and _ . - after the first character',
  version: 'a version name: letters, digits, and _ . - after the first character',
  stickyHeader: 'an HTTP header name',
};

function describe(error: ErrorObject): string {
  if (error.keyword === 'additionalProperties') return `${keyOf(error)}: unknown key`;
  if (error.keyword === 'required') return `${keyOf(error)}: is required`;
  const last = error.instancePath.split('/').at(-1) ?? '';
  if (error.keyword === 'pattern' && PATTERN_HINTS[last]) return `${keyOf(error)}: must be ${PATTERN_HINTS[last]}`;
  return `${keyOf(error)}: ${error.message}`;
}

/** The rules a schema cannot say: unique names, weights summing to 100, a listed shadow version. */
function semanticProblems(table: RouteTable): string[] {
  const problems: string[] = [];
  const seen = new Set<string>();
  table.versions.forEach((v, i) => {
    if (seen.has(v.name)) problems.push(`versions[${i}].name: version '${v.name}' is listed more than once`);
    seen.add(v.name);
  });
  if (table.versions.length > 0) {
    const total = table.versions.reduce((sum, v) => sum + v.weight, 0);
    if (total !== 100) problems.push(`versions: weights must sum to 100, they sum to ${total} (an empty list means no version is ready)`);
  }
  if (table.shadow && !seen.has(table.shadow.version)) {
    problems.push(`shadow.version: '${table.shadow.version}' is not among the versions (${[...seen].join(', ') || 'none'})`);
  }
  return problems;
}

/** Parses JSON or YAML text (JSON is YAML) into a checked table; throws RouteTableError naming every problem. */
export function parseRouteTable(text: string, source: string): RouteTable {
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (error) {
    throw new RouteTableError(source, [`not valid JSON or YAML: ${(error as Error).message.split('\n')[0]}`]);
  }
  if (doc === null || doc === undefined || typeof doc !== 'object' || Array.isArray(doc)) {
    throw new RouteTableError(source, ["must be a mapping with a 'versions' list"]);
  }
  if (!validate(doc)) throw new RouteTableError(source, (validate.errors ?? []).map(describe));
  const problems = semanticProblems(doc);
  if (problems.length > 0) throw new RouteTableError(source, problems);
  return {
    versions: doc.versions.map((v) => ({ name: v.name, url: v.url.replace(/\/+$/, ''), weight: v.weight })),
    ...(doc.shadow ? { shadow: { version: doc.shadow.version, percent: doc.shadow.percent } } : {}),
    ...(doc.stickyHeader ? { stickyHeader: doc.stickyHeader.toLowerCase() } : {}),
  };
}

/** The table with `--upstream` URLs in place of the listed ones (overrides of unlisted versions wait unused). */
export function withUpstreams(table: RouteTable, overrides: ReadonlyMap<string, string>): RouteTable {
  if (overrides.size === 0) return table;
  return { ...table, versions: table.versions.map((v) => ({ ...v, url: overrides.get(v.name)?.replace(/\/+$/, '') ?? v.url })) };
}

/** Ready to serve inference: at least one version takes traffic. */
export const hasTraffic = (table: RouteTable) => table.versions.some((v) => v.weight > 0);
