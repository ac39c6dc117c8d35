/** Reads Istio YAML (one or more documents, `kind: List` too) and checks shapes, naming the field at fault. */
import { parseAllDocuments } from 'yaml';
import { isPlainObject, VerityError } from '@verity/core';

/** Largest YAML text the importer reads, in characters (a mesh's whole policy set is far smaller). */
export const MAX_ISTIO_YAML_LENGTH = 4 * 1024 * 1024;
/** Most aliases one document may expand (the `yaml` package's guard against "billion laughs"). */
const MAX_ALIAS_COUNT = 100;

/** One Kubernetes object of the input and where it came from, for messages. */
export interface IstioObject {
  /** `document 2` or `document 2, item 3` (1-based, as editors count). */
  where: string;
  value: Record<string, unknown>;
}

/** The error every bad input gets: the message names the document and the field, never quotes a value. */
export function invalid(where: string, message: string): VerityError {
  return new VerityError('ERR_ISTIO_POLICY_INVALID', `${where}: ${message}`);
}

/** Every object of a multi-document YAML text, `List` items expanded; empty documents skipped. */
export function readIstioObjects(yamlText: string): IstioObject[] {
  if (typeof yamlText !== 'string') throw new VerityError('ERR_ISTIO_POLICY_INVALID', 'the Istio YAML must be text');
  if (yamlText.length > MAX_ISTIO_YAML_LENGTH) throw new VerityError('ERR_ISTIO_POLICY_INVALID', `the Istio YAML is longer than ${MAX_ISTIO_YAML_LENGTH} characters`);
  const parsed = parseAllDocuments(yamlText, { uniqueKeys: true, prettyErrors: true });
  const documents = Array.isArray(parsed) ? parsed : [];
  const objects: IstioObject[] = [];
  documents.forEach((document, index) => {
    const where = `document ${index + 1}`;
    const error = document.errors[0];
    if (error) {
      // The parser's own message quotes the text; the position is enough to find the fault.
      const at = error.linePos?.[0];
      throw invalid(where, `not valid YAML${at ? ` (line ${at.line}, column ${at.col})` : ''}`);
    }
    let value: unknown;
    try {
      value = document.toJS({ maxAliasCount: MAX_ALIAS_COUNT });
    } catch {
      throw invalid(where, `not valid YAML (more than ${MAX_ALIAS_COUNT} alias expansions, or an unresolvable alias)`);
    }
    if (value === null || value === undefined) return;
    if (!isPlainObject(value)) throw invalid(where, 'must be a Kubernetes object (a mapping)');
    if (value['kind'] === 'List' || (typeof value['kind'] === 'string' && value['kind'].endsWith('List') && 'items' in value)) {
      const items = value['items'];
      if (!Array.isArray(items)) throw invalid(where, 'items must be a list');
      items.forEach((item, i) => {
        if (!isPlainObject(item)) throw invalid(`${where}, item ${i + 1}`, 'must be a Kubernetes object (a mapping)');
        objects.push({ where: `${where}, item ${i + 1}`, value: item });
      });
    } else {
      objects.push({ where, value });
    }
  });
  return objects;
}

/** Shape checks on one object, each error naming `where` and the field path. */
export class Shape {
  constructor(readonly where: string) {}

  fail(path: string, message: string): VerityError {
    return invalid(this.where, `${path} ${message}`);
  }

  /** A mapping, or `{}` when absent (`null` too: `spec:` with nothing under it). */
  record(value: unknown, path: string): Record<string, unknown> {
    if (value === undefined || value === null) return {};
    if (!isPlainObject(value)) throw this.fail(path, 'must be a mapping');
    return value;
  }

  /** A list, or `[]` when absent (protobuf reads an empty repeated field as unset). */
  list(value: unknown, path: string): unknown[] {
    if (value === undefined || value === null) return [];
    if (!Array.isArray(value)) throw this.fail(path, 'must be a list');
    return value;
  }

  /** A list of strings, or `[]` when absent. */
  strings(value: unknown, path: string): string[] {
    const items = this.list(value, path);
    items.forEach((item, i) => {
      if (typeof item !== 'string') throw this.fail(`${path}[${i}]`, 'must be a string');
    });
    return items as string[];
  }

  /** A string, or undefined when absent. */
  optionalString(value: unknown, path: string): string | undefined {
    if (value === undefined || value === null) return undefined;
    if (typeof value !== 'string') throw this.fail(path, 'must be a string');
    return value;
  }

  /** A map of string to string (labels), or undefined when absent. */
  labels(value: unknown, path: string): Record<string, string> | undefined {
    if (value === undefined || value === null) return undefined;
    const record = this.record(value, path);
    for (const [key, item] of Object.entries(record)) {
      if (typeof item !== 'string') throw this.fail(`${path}.${key}`, 'must be a string');
    }
    return record as Record<string, string>;
  }
}
