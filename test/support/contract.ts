import { readFileSync } from 'node:fs';
import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import { parse } from 'yaml';

interface OpenApiDoc {
  paths: Record<string, Record<string, { responses?: Record<string, ResponseObj> }>>;
  components?: { responses?: Record<string, ResponseObj> };
}
interface ResponseObj {
  $ref?: string;
  content?: Record<string, { schema?: unknown }>;
}

export const OPENAPI_PATH = new URL('../../openapi.yaml', import.meta.url);
const HTTP_METHODS = ['get', 'post', 'put', 'patch', 'delete'];

export function loadOpenApi(): OpenApiDoc {
  return parse(readFileSync(OPENAPI_PATH, 'utf8')) as OpenApiDoc;
}

/** "METHOD /path/{param}" for every operation in openapi.yaml. */
export function openApiOperations(doc: OpenApiDoc = loadOpenApi()): string[] {
  return Object.entries(doc.paths).flatMap(([path, item]) =>
    Object.keys(item)
      .filter((m) => HTTP_METHODS.includes(m))
      .map((m) => `${m.toUpperCase()} ${path}`),
  );
}

/** Express `:param` paths in OpenAPI `{param}` form. */
export function toOpenApiPath(expressPath: string): string {
  return expressPath.replace(/:([A-Za-z]+)/g, '{$1}');
}

function pointerEscape(s: string): string {
  return s.replace(/~/g, '~0').replace(/\//g, '~1');
}

/**
 * Validates response bodies against the operation's schema for that status. Unknown operation,
 * undeclared status, or a body that does not match are all reported as problems.
 */
export class ResponseValidator {
  private readonly ajv = new Ajv2020({ strict: false, allErrors: true });
  private readonly cache = new Map<string, ValidateFunction | null>();
  private readonly matchers: { method: string; path: string; re: RegExp }[];

  constructor(private readonly doc: OpenApiDoc = loadOpenApi()) {
    addFormats.default(this.ajv);
    this.ajv.addSchema(doc, 'openapi');
    this.matchers = openApiOperations(doc).map((op) => {
      const [method, path] = op.split(' ') as [string, string];
      return { method, path, re: new RegExp(`^${path.replace(/\{[^}]+\}/g, '[^/]+')}$`) };
    });
  }

  private operationFor(method: string, urlPath: string): { method: string; path: string } | null {
    const exact = this.matchers.filter((m) => m.method === method && m.re.test(urlPath));
    // Prefer literal segments over parameters (e.g. /tenants/invites/accept over /tenants/{id}/...).
    exact.sort((a, b) => (b.path.match(/\{/g)?.length ?? 0) < (a.path.match(/\{/g)?.length ?? 0) ? 1 : -1);
    return exact[0] ?? null;
  }

  private validatorFor(method: string, path: string, status: number): ValidateFunction | null | 'undeclared' {
    const key = `${method} ${path} ${status}`;
    if (this.cache.has(key)) return this.cache.get(key) ?? null;
    const op = this.doc.paths[path]?.[method.toLowerCase()];
    let resp = op?.responses?.[String(status)];
    if (!resp) return 'undeclared';
    let pointerBase = `#/paths/${pointerEscape(path)}/${method.toLowerCase()}/responses/${status}`;
    if (resp.$ref) {
      const name = resp.$ref.split('/').pop() ?? '';
      resp = this.doc.components?.responses?.[name];
      pointerBase = `#/components/responses/${pointerEscape(name)}`;
    }
    const json = resp?.content?.['application/json'];
    const fn = json?.schema ? this.ajv.compile({ $ref: `openapi${pointerBase}/content/application~1json/schema` }) : null;
    this.cache.set(key, fn);
    return fn;
  }

  /** Returns a problem description, or null when the response conforms. */
  check(method: string, urlPath: string, status: number, body: unknown): string | null {
    const op = this.operationFor(method, urlPath);
    // Unknown paths (the 404/405 tests) have no operation to validate against.
    if (!op) return null;
    const v = this.validatorFor(op.method, op.path, status);
    if (v === 'undeclared') return `${op.method} ${op.path}: status ${status} is not declared in openapi.yaml`;
    if (v === null) return body === undefined ? null : `${op.method} ${op.path} ${status}: sent a body where none is declared`;
    if (body === undefined) return `${op.method} ${op.path} ${status}: declared a JSON body but none was sent`;
    if (!v(body)) return `${op.method} ${op.path} ${status}: ${this.ajv.errorsText(v.errors)} in ${JSON.stringify(body).slice(0, 500)}`;
    return null;
  }
}
