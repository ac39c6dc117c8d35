import { describe, expect, it } from 'vitest';
import { createRouteTable, routeTemplatesProblem } from './route-match.js';

const TEMPLATES = ['/', '/todos', '/todos/{todoId}', '/todos/archive', '/{collection}/new', '/users/{userId}/todos/{todoId}', '/users/me/todos/{todoId}', '/files/{name}'];
const routes = createRouteTable(TEMPLATES);

describe('matching a forwarded path to the most specific template', () => {
  const cases: Array<[string, string | null, Record<string, string>?]> = [
    ['/', '/', {}],
    ['/todos', '/todos', {}],
    ['/todos?completed=true&x=/..', '/todos', {}],
    ['/todos/42', '/todos/{todoId}', { todoId: '42' }],
    // A literal segment beats a parameter, at the first segment where candidates differ.
    ['/todos/archive', '/todos/archive', {}],
    ['/todos/new', '/todos/{todoId}', { todoId: 'new' }],
    ['/lists/new', '/{collection}/new', { collection: 'lists' }],
    ['/users/me/todos/7', '/users/me/todos/{todoId}', { todoId: '7' }],
    ['/users/u1/todos/7', '/users/{userId}/todos/{todoId}', { userId: 'u1', todoId: '7' }],
    // Percent-decoding happens per segment, once.
    ['/files/a%20b', '/files/{name}', { name: 'a b' }],
    ['/files/%C3%A9t%C3%A9', '/files/{name}', { name: 'été' }],
    ['/%74odos', '/todos', {}],
    // Literals are case-sensitive, and no template has more or fewer segments than the path.
    ['/TODOS', null],
    ['/todos/42/comments', null],
    ['/users/u1', null],
  ];

  it.each(cases)('%s → %s', (uri, template, params) => {
    const outcome = routes.match(uri);
    if (template === null) {
      expect(outcome.kind).toBe('unmatched');
      return;
    }
    expect(outcome).toEqual({ kind: 'matched', template, params, path: uri.split('?')[0] });
  });

  it('backtracks from a literal branch that dead-ends into a parameter branch', () => {
    const table = createRouteTable(['/a/b/c', '/a/{x}/d']);
    expect(table.match('/a/b/d')).toMatchObject({ kind: 'matched', template: '/a/{x}/d', params: { x: 'b' } });
    expect(table.match('/a/b/c')).toMatchObject({ kind: 'matched', template: '/a/b/c' });
  });

  it('names parameters per template even where templates share a parameter position', () => {
    const table = createRouteTable(['/x/{a}', '/x/{b}/y']);
    expect(table.match('/x/1')).toMatchObject({ params: { a: '1' } });
    expect(table.match('/x/1/y')).toMatchObject({ params: { b: '1' } });
  });

  it('matches nothing without templates', () => {
    expect(createRouteTable([]).match('/')).toEqual({ kind: 'unmatched', path: '/' });
  });
});

describe('paths that are refused, not resolved (request-path.cases.json has the full table)', () => {
  const notNormalized = [
    '/todos/../admin',
    '/todos/./1',
    '/todos/%2e%2e/admin',
    '/todos/%2E%2e',
    '/todos/..;/admin',
    '/todos/.;x',
    '//todos',
    '/todos//1',
    '/todos//',
    '/todos/secret;x',
    '/todos/secret%3Bx',
    '/files/a%2525',
    // Decoded once, this would still be `..` to an upstream that decodes twice.
    '/files/%252e%252e',
    '/files/a%2Fb',
    '/files/a%5Cb',
    '/files/a%00b',
    '/files/a%0d%0ab',
  ];
  it.each(notNormalized)('%s is ambiguous', (uri) => {
    expect(routes.match(uri)).toEqual({ kind: 'refused', reason: 'ambiguous' });
  });

  const malformed = ['todos', '', 'http://example.com/todos', '/todos#x', '/files/%zz', '/files/%C3', '/files/a b', '/files\\x', `/${'a'.repeat(8200)}`];
  it.each(malformed)('%j is malformed', (uri) => {
    expect(routes.match(uri)).toEqual({ kind: 'refused', reason: 'malformed' });
  });

  it('keeps the undecoded path for context, and matches a trailing slash as the path without it', () => {
    const table = createRouteTable(['/', '/{a}/c', '/todos']);
    expect(table.match('/?q=1')).toEqual({ kind: 'matched', template: '/', params: {}, path: '/' });
    expect(table.match('/a%20b/c')).toEqual({ kind: 'matched', template: '/{a}/c', params: { a: 'a b' }, path: '/a%20b/c' });
    expect(table.match('/todos/')).toMatchObject({ kind: 'matched', template: '/todos' });
  });
});

describe('validating a tenant\'s templates', () => {
  it('accepts literal and {name} segments', () => {
    expect(routeTemplatesProblem(TEMPLATES)).toBeNull();
    expect(routeTemplatesProblem([])).toBeNull();
    expect(routeTemplatesProblem(["/a-b_c.d~e/!$&'()*+,;=:@/{x_1}"])).toBeNull();
  });

  const bad: Array<[unknown, RegExp]> = [
    ['/todos', /array/],
    [['todos'], /start with/],
    [['/todos/'], /empty segment/],
    [['//todos'], /empty segment/],
    [['/todos/../x'], /neither/],
    [['/todos/{}'], /neither/],
    [['/todos/{1x}'], /neither/],
    [['/todos/{__entity}'], /neither/],
    [['/todos/x{id}'], /neither/],
    [['/todos/a%20b'], /neither/],
    [['/a/{x}/{x}'], /repeats/],
    [['/todos/{id}', '/todos/{todoId}'], /match the same paths/],
    [['/todos', '/todos'], /match the same paths/],
    [[42], /only strings/],
    [[`/${'a'.repeat(1100)}`], /longer/],
    [Array.from({ length: 501 }, (_, i) => `/r${i}`), /more than 500/],
  ];
  it.each(bad)('refuses %j', (templates, problem) => {
    expect(routeTemplatesProblem(templates)).toMatch(problem);
  });

  it('takes 500 templates', () => {
    expect(routeTemplatesProblem(Array.from({ length: 500 }, (_, i) => `/r${i}/{id}`))).toBeNull();
  });

  it('refuses an invalid template at construction (a programming error)', () => {
    expect(() => createRouteTable(['nope'])).toThrow(TypeError);
  });
});
