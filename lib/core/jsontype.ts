// JSON types beside ajv: whether a value has a JSON type or fits a small
// schema (type, enum, minimum, items, anyOf), and how a person names both, in
// the API's words (array, object) or a service file's (list, mapping). Pure.

export type JsonTypeName =
  'string' | 'number' | 'integer' | 'boolean' | 'array' | 'object' | 'null';

/** Who reads the name: a client of the JSON API, or a person writing YAML. */
export type Dialect = 'json' | 'yaml';

/** The part of a JSON schema checked here; other keywords are ignored. */
export type TypeSchema = Readonly<Record<string, unknown>>;

export function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** True when `v` has JSON type `type`; an integer is a safe integer. */
export function matchesType(type: string, v: unknown): boolean {
  switch (type) {
    case 'object':
      return isRecord(v);
    case 'array':
      return Array.isArray(v);
    case 'integer':
      return Number.isSafeInteger(v);
    case 'null':
      return v === null;
    case 'string':
    case 'number':
    case 'boolean':
      return typeof v === type;
    default:
      return false;
  }
}

/** True when `v` fits `schema`'s type, enum, minimum, items and anyOf. */
export function matchesSchema(schema: TypeSchema, v: unknown): boolean {
  if (Array.isArray(schema.anyOf)) {
    const branches = schema.anyOf.filter(isRecord);
    if (!branches.some((b) => matchesSchema(b, v))) return false;
  }
  const types = typeList(schema.type);
  if (types.length > 0 && !types.some((t) => matchesType(t, v))) return false;
  if (Array.isArray(schema.enum) && !schema.enum.includes(v)) return false;
  if (typeof schema.minimum === 'number' && typeof v === 'number' && v < schema.minimum)
    return false;
  if (isRecord(schema.items) && Array.isArray(v)) {
    const items = schema.items;
    if (!v.every((x) => matchesSchema(items, x))) return false;
  }
  return true;
}

interface Words {
  /** With its article, alone: `a list`. */
  readonly one: string;
  /** Bare, in a list of types: `a string, number or boolean`. */
  readonly bare: string;
}

const WORDS: Readonly<Record<Dialect, Readonly<Record<JsonTypeName, Words>>>> = {
  json: {
    string: { one: 'a string', bare: 'string' },
    number: { one: 'a number', bare: 'number' },
    integer: { one: 'an integer', bare: 'integer' },
    boolean: { one: 'a boolean', bare: 'boolean' },
    array: { one: 'an array', bare: 'array' },
    object: { one: 'an object', bare: 'object' },
    null: { one: 'null', bare: 'null' },
  },
  yaml: {
    string: { one: 'a string', bare: 'string' },
    number: { one: 'a number', bare: 'number' },
    integer: { one: 'a whole number', bare: 'integer' },
    boolean: { one: 'true or false', bare: 'boolean' },
    array: { one: 'a list', bare: 'list' },
    object: { one: 'a mapping', bare: 'mapping' },
    null: { one: 'null', bare: 'null' },
  },
};

function words(type: string, dialect: Dialect): Words | undefined {
  return Object.hasOwn(WORDS[dialect], type) ? WORDS[dialect][type as JsonTypeName] : undefined;
}

/** Names of JSON types: `a mapping`; several as `a string, number or boolean`. */
export function describeTypes(types: readonly string[], dialect: Dialect): string {
  const [only] = types;
  if (types.length === 1 && only !== undefined) return words(only, dialect)?.one ?? only;
  const bare = types.map((t) => words(t, dialect)?.bare ?? t);
  const article = /^[aeiou]/.test(bare[0] ?? '') ? 'an' : 'a';
  return `${article} ${bare.slice(0, -1).join(', ')} or ${bare.at(-1) ?? ''}`;
}

/** What `schema` asks for, in a phrase that follows `must be`. */
export function describeSchema(schema: TypeSchema, dialect: Dialect): string {
  if (Array.isArray(schema.anyOf)) {
    return schema.anyOf
      .filter(isRecord)
      .map((b) => describeSchema(b, dialect))
      .join(', or ');
  }
  const types = typeList(schema.type);
  const [only] = types;
  if (types.length > 1) return describeTypes(types, dialect);
  if (only === 'array') {
    const items = isRecord(schema.items) ? schema.items : {};
    const of = typeList(items.type);
    const one = words('array', dialect)?.one ?? 'an array';
    if (Array.isArray(items.enum)) return `${one} of ${items.enum.map(String).join(', ')}`;
    if (of.length === 1) return `${one} of ${words(of[0] ?? '', dialect)?.bare ?? of[0]}s`;
    return one;
  }
  if (only === 'integer' && schema.minimum === 0 && dialect === 'json')
    return 'a non-negative integer';
  if (Array.isArray(schema.enum) && (only === undefined || only === 'string'))
    return `one of ${schema.enum.map(String).join(', ')}`;
  return only === undefined ? 'a value' : describeTypes([only], dialect);
}

/** A value as an error message shows it: a short quoted string, `a list`, `a mapping`, `42`. */
export function describeValue(v: unknown, dialect: Dialect = 'yaml'): string {
  if (typeof v === 'string') return JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}…` : v);
  if (Array.isArray(v)) return describeTypes(['array'], dialect);
  if (isRecord(v)) return describeTypes(['object'], dialect);
  return String(v);
}

function typeList(type: unknown): string[] {
  if (typeof type === 'string') return [type];
  return Array.isArray(type) ? type.filter((t): t is string => typeof t === 'string') : [];
}

/** Whether two JSON-like values (plain objects, arrays, primitives) are equal throughout. */
export function sameJson(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (Array.isArray(a)) {
    return Array.isArray(b) && a.length === b.length && a.every((x, i) => sameJson(x, b[i]));
  }
  if (!isRecord(a) || !isRecord(b)) return false;
  const keys = Object.keys(a).filter((k) => a[k] !== undefined);
  if (keys.length !== Object.keys(b).filter((k) => b[k] !== undefined).length) return false;
  return keys.every((k) => sameJson(a[k], b[k]));
}
