/**
 * Checks a JSON value against a schema of the server's OpenAPI document (src/server/openapi.ts), for the subset of
 * OpenAPI 3.0 schemas it uses: type (object, array, string, number, integer), properties, required,
 * additionalProperties: false, items, enum, nullable, oneOf and local $ref. Returns the problems found, [] when
 * the value fits.
 */
import { OPENAPI_DOCUMENT } from '../../src/server/openapi.js';

type Schema = Record<string, unknown>;

function resolve(schema: Schema): Schema {
  const ref = schema.$ref;
  if (typeof ref !== 'string') return schema;
  const name = ref.replace('#/components/schemas/', '');
  return (OPENAPI_DOCUMENT.components.schemas as Record<string, Schema>)[name]!;
}

export function schemaProblems(value: unknown, raw: Schema, where = '$'): string[] {
  const schema = resolve(raw);
  if (value === null) return schema.nullable === true ? [] : [`${where}: null is not allowed`];
  if (Array.isArray(schema.oneOf)) {
    const fits = (schema.oneOf as Schema[]).filter((s) => schemaProblems(value, s, where).length === 0).length;
    return fits === 1 ? [] : [`${where}: fits ${fits} of the oneOf schemas, expected exactly 1`];
  }
  if (Array.isArray(schema.enum) && !schema.enum.includes(value)) return [`${where}: ${JSON.stringify(value)} is not one of ${JSON.stringify(schema.enum)}`];
  switch (schema.type) {
    case 'string':
      return typeof value === 'string' ? [] : [`${where}: expected a string`];
    case 'number':
      return typeof value === 'number' ? [] : [`${where}: expected a number`];
    case 'integer':
      return Number.isInteger(value) ? [] : [`${where}: expected an integer`];
    case 'array':
      return Array.isArray(value) ? value.flatMap((v, i) => schemaProblems(v, schema.items as Schema, `${where}[${i}]`)) : [`${where}: expected an array`];
    case 'object': {
      if (typeof value !== 'object' || Array.isArray(value)) return [`${where}: expected an object`];
      const record = value as Record<string, unknown>;
      const properties = (schema.properties ?? {}) as Record<string, Schema>;
      const problems = ((schema.required ?? []) as string[]).filter((k) => !(k in record)).map((k) => `${where}.${k}: missing`);
      for (const [k, v] of Object.entries(record)) {
        if (k in properties) problems.push(...schemaProblems(v, properties[k]!, `${where}.${k}`));
        else if (schema.additionalProperties === false) problems.push(`${where}.${k}: not in the schema`);
      }
      return problems;
    }
    default:
      return [];
  }
}

/** The schema of an answer: path, method, status and content type as the document lists them. */
export function responseSchema(path: string, method: 'get' | 'post', status: number): Schema {
  const paths = OPENAPI_DOCUMENT.paths as unknown as Record<string, Record<string, { responses: Record<string, { content?: Record<string, { schema: Schema }> }> }>>;
  const response = paths[path]?.[method]?.responses[String(status)];
  const schema = response?.content?.['application/json']?.schema;
  if (!schema) throw new Error(`the OpenAPI document has no JSON answer for ${method.toUpperCase()} ${path} ${status}`);
  return schema;
}
