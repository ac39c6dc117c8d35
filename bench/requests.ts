/**
 * The request mix: shapes from the AuthZEN Todo and API-gateway interop scenarios
 * (examples/demo/tests/demo.json), copied so the benchmark does not drift with the tests.
 */
import type { AuthzenEvaluationRequest } from '@verity/core';

const RICK = 'CiRmZDA2MTRkMy1jMzlhLTQ3ODEtYjdiZC04Yjk2ZjVhNTEwMGQSBWxvY2Fs'; // admin, evil_genius
const MORTY = 'CiRmZDE2MTRkMy1jMzlhLTQ3ODEtYjdiZC04Yjk2ZjVhNTEwMGQSBWxvY2Fs'; // editor
const SUMMER = 'CiRmZDI2MTRkMy1jMzlhLTQ3ODEtYjdiZC04Yjk2ZjVhNTEwMGQSBWxvY2Fs'; // editor
const BETH = 'CiRmZDM2MTRkMy1jMzlhLTQ3ODEtYjdiZC04Yjk2ZjVhNTEwMGQSBWxvY2Fs'; // viewer
const JERRY = 'CiRmZDQ2MTRkMy1jMzlhLTQ3ODEtYjdiZC04Yjk2ZjVhNTEwMGQSBWxvY2Fs'; // viewer

export interface MixEntry {
  name: string;
  request: AuthzenEvaluationRequest;
  expect: 'allow' | 'deny';
}

/** Ten requests, half allow and half deny, across both policy files. */
export const MIX: readonly MixEntry[] = [
  { name: 'viewer reads todos', expect: 'allow', request: { subject: { type: 'user', id: BETH }, action: { name: 'can_read_todos' }, resource: { type: 'todo', id: 'todo-1' } } },
  { name: 'viewer creates todo', expect: 'deny', request: { subject: { type: 'user', id: BETH }, action: { name: 'can_create_todo' }, resource: { type: 'todo', id: 'todo-1' } } },
  { name: 'editor updates own todo', expect: 'allow', request: { subject: { type: 'user', id: SUMMER }, action: { name: 'can_update_todo' }, resource: { type: 'todo', id: 't-summer', properties: { ownerID: 'summer@the-smiths.com' } } } },
  { name: "editor updates another's todo", expect: 'deny', request: { subject: { type: 'user', id: MORTY }, action: { name: 'can_update_todo' }, resource: { type: 'todo', id: 't-rick', properties: { ownerID: 'rick@the-citadel.com' } } } },
  { name: 'admin deletes any todo', expect: 'allow', request: { subject: { type: 'user', id: RICK }, action: { name: 'can_delete_todo' }, resource: { type: 'todo', id: 't-jerry', properties: { ownerID: 'jerry@the-smiths.com' } } } },
  { name: 'viewer deletes todo', expect: 'deny', request: { subject: { type: 'user', id: JERRY }, action: { name: 'can_delete_todo' }, resource: { type: 'todo', id: 't-beth', properties: { ownerID: 'beth@the-smiths.com' } } } },
  { name: 'gateway: viewer GET /todos', expect: 'allow', request: { subject: { type: 'identity', id: JERRY }, action: { name: 'GET' }, resource: { type: 'route', id: '/todos' } } },
  { name: 'gateway: viewer POST /todos', expect: 'deny', request: { subject: { type: 'identity', id: JERRY }, action: { name: 'POST' }, resource: { type: 'route', id: '/todos' } } },
  { name: 'gateway: editor PUT /todos/{id}', expect: 'allow', request: { subject: { type: 'identity', id: MORTY }, action: { name: 'PUT' }, resource: { type: 'route', id: '/todos/{todoId}' } } },
  { name: 'gateway: viewer DELETE /todos/{id}', expect: 'deny', request: { subject: { type: 'identity', id: BETH }, action: { name: 'DELETE' }, resource: { type: 'route', id: '/todos/{todoId}' } } },
];

/** An AuthZEN batch body holding every request of the mix once (10 items). */
export function batchBody(mix: readonly MixEntry[]): { evaluations: AuthzenEvaluationRequest[] } {
  return { evaluations: mix.map((entry) => entry.request) };
}
