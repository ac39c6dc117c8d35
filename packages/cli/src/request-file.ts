/** Reads decision requests from a file (`eval --request`, `policy diff --requests`): one, an array, or JSON lines. */
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { formatEntityUid, isPlainObject, isVerityError, parseEntityUid, parseEvaluationRequest, parseJson, toCedarRecord } from '@verity/core';
import type { DecisionRequest, EntityUid } from '@verity/core';
import type { CommandIo } from './command.js';
import { cliError } from './errors.js';
import { checkEntities } from './policy-folder.js';

/** One request to decide, with the name it is reported under. */
export interface RequestItem {
  /** The item's `name`, else `#N` (1-based position in the file). */
  name: string;
  request: DecisionRequest;
}

/** What a request file held: its items, and whether it was one object (not an array or lines). */
export interface RequestFile {
  items: RequestItem[];
  single: boolean;
}

const TEST_CASE_KEYS = new Set(['name', 'request', 'expect']);
const CEDAR_KEYS = new Set(['name', 'principal', 'action', 'resource', 'context', 'entities']);

function bad(where: string, problem: string): Error {
  return cliError('ERR_CLI_REQUEST_FILE', `${where}: ${problem}`);
}

function uidOf(value: unknown, where: string): EntityUid {
  if (typeof value === 'string') {
    const uid = parseEntityUid(value);
    if (uid !== null) return uid;
  } else if (isPlainObject(value) && typeof value['type'] === 'string' && value['type'] !== '' && typeof value['id'] === 'string') {
    return { type: value['type'], id: value['id'] };
  }
  throw bad(where, 'must be {"type", "id"} or "Type::\\"id\\""');
}

/** A request JSON value: a policy-test case `{name?, request: AuthZEN, expect?}` or Cedar-native `{principal, action, resource, context?, entities?}`. */
async function itemOf(value: unknown, where: string, position: number): Promise<RequestItem> {
  if (!isPlainObject(value)) throw bad(where, 'must be an object');
  const name = value['name'];
  if (name !== undefined && typeof name !== 'string') throw bad(where, '"name" must be a string');
  const label = name ?? `#${position}`;
  const keys = 'request' in value ? TEST_CASE_KEYS : CEDAR_KEYS;
  const unknown = Object.keys(value).find((key) => !keys.has(key));
  if (unknown !== undefined) throw bad(where, `unknown key "${unknown}" (a request is {name?, request, expect?} or {name?, principal, action, resource, context?, entities?})`);
  try {
    if ('request' in value) return { name: label, request: { kind: 'authzen', request: parseEvaluationRequest(value['request'], 'request') } };
    const context = value['context'] ?? {};
    if (!isPlainObject(context)) throw bad(where, '"context" must be an object');
    const request = {
      principal: uidOf(value['principal'], `${where}: principal`),
      action: uidOf(value['action'], `${where}: action`),
      resource: uidOf(value['resource'], `${where}: resource`),
      context: toCedarRecord(context, 'context'),
    };
    const entities = value['entities'] === undefined ? [] : await checkEntities(value['entities'], `${where}: entities`);
    return { name: label, request: { kind: 'cedar', request, entities } };
  } catch (error) {
    // The request's own validation (AuthZEN shape, context values), reported against the file.
    if (isVerityError(error)) throw bad(where, error.message);
    throw error;
  }
}

function parseText(text: string, file: string): { values: unknown[]; single: boolean; where: (i: number) => string } {
  try {
    const json = parseJson(text);
    if (Array.isArray(json)) return { values: json, single: false, where: (i) => `${file}: request #${i + 1}` };
    return { values: [json], single: true, where: () => file };
  } catch {
    // Not one JSON document: JSON lines, one request a line (blank lines skipped).
  }
  const values: unknown[] = [];
  const lines: number[] = [];
  text.split('\n').forEach((line, i) => {
    if (line.trim() === '') return;
    try {
      values.push(parseJson(line));
      lines.push(i + 1);
    } catch (error) {
      throw bad(`${file}:${i + 1}`, `not valid JSON (${(error as Error).message})`);
    }
  });
  return { values, single: false, where: (i) => `${file}:${lines[i] ?? 0}` };
}

/** Parse a request file's text; rejects with CliError ERR_CLI_REQUEST_FILE (exit 3) naming the file and the request. */
export async function parseRequestFile(text: string, file: string): Promise<RequestFile> {
  const { values, single, where } = parseText(text, file);
  if (values.length === 0) throw bad(file, 'holds no request');
  const items: RequestItem[] = [];
  // One at a time: the first bad request in the file is the one reported.
  for (const [i, value] of values.entries()) items.push(await itemOf(value, where(i), i + 1));
  return { items, single };
}

/** Read and parse a request file (relative to the command's cwd), or standard input for `-`. */
export async function readRequestFile(path: string, io: CommandIo): Promise<RequestFile> {
  if (path !== '-') return parseRequestFile(await readFile(resolve(io.cwd, path), 'utf8'), path);
  if (io.stdin === undefined) throw cliError('ERR_CLI_USAGE', 'no standard input to read the requests from');
  let text = '';
  const decoder = new TextDecoder();
  for await (const chunk of io.stdin) text += typeof chunk === 'string' ? chunk : decoder.decode(chunk, { stream: true });
  return parseRequestFile(text + decoder.decode(), '<stdin>');
}

/** `User::"alice" Action::"read" Doc::"d1"`: the Cedar request a decision was made for. */
export function describeCedarRequest(request: { principal: EntityUid; action: EntityUid; resource: EntityUid }): string {
  return `${formatEntityUid(request.principal)} ${formatEntityUid(request.action)} ${formatEntityUid(request.resource)}`;
}
