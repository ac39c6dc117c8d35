/**
 * The web console (docs/console.md) in a real Chromium (Debian's, driven by playwright-core),
 * against one real server: sign-in, tenants, versions with diff and activate, the playground, the
 * decision log with its filters and the audit chain, the observe report and replay; a credential
 * bound to one tenant sees the server's refusals elsewhere; data holding markup is shown as text;
 * the CSP holds (no violation, no page error). A screenshot of every page visited is kept in
 * test-artifacts/console/.
 */
import { mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '@verity/server';
import { eventually } from './helpers/eventually.js';
import { ADMIN_TOKEN, createClient, startTestServer, type Client } from './helpers/verity.js';

const CHROMIUM = '/usr/bin/chromium';
const ARTIFACTS = fileURLToPath(new URL('../test-artifacts/console/', import.meta.url));
/** Markup in data: shown as text, it never runs (the test looks for its side effect). */
const XSS = '<img src=x onerror="window.__xss=1">';

const V1 = `@id("read") permit(principal, action == Action::"read", resource);
@id("no-delete") forbid(principal, action == Action::"delete", resource);`;
// Version 2: mallory may no longer read, anyone may write.
const V2 = `@id("read") permit(principal, action == Action::"read", resource)
unless { principal == User::"mallory" };
@id("write") permit(principal, action == Action::"write", resource);
@id("no-delete") forbid(principal, action == Action::"delete", resource);`;

let server: Awaited<ReturnType<typeof startTestServer>>;
let browser: Browser;
let page: Page;
let authorToken: string;
/** Console messages of type error and uncaught page errors, for the CSP check at the end. */
const consoleErrors: string[] = [];
const pageErrors: string[] = [];
let shots = 0;

async function shot(name: string): Promise<void> {
  await page.screenshot({ path: `${ARTIFACTS}${String(++shots).padStart(2, '0')}-${name}.png`, fullPage: true });
}

async function decide(pdp: Client, user: string, action: string, headers: Record<string, string> = {}): Promise<boolean> {
  const answer = await pdp.post('/tenants/shop/access/v1/evaluation', { subject: { type: 'User', id: user }, action: { name: action }, resource: { type: 'Doc', id: 'd1' } }, headers);
  expect(answer.status).toBe(200);
  return answer.body.decision as boolean;
}

async function signIn(token: string, tenant = ''): Promise<void> {
  await page.goto(`${server.url}/console/`);
  await page.fill('#credential', token);
  await page.fill('#login-tenant', tenant);
  await page.click('#login button[type=submit]');
}

/** The page `name` rendered (the router marks it ready once its data or its error is shown). */
async function ready(name: 'tenants' | 'versions' | 'playground' | 'audit' | 'observe' | 'replay'): Promise<void> {
  await page.locator(`section.page-${name}[data-ready="true"]`).waitFor();
}

beforeAll(async () => {
  mkdirSync(ARTIFACTS, { recursive: true });
  const launching = chromium.launch({ executablePath: CHROMIUM, args: process.getuid?.() === 0 ? ['--no-sandbox'] : [] });
  server = await startTestServer({ decisionAuth: 'open' });
  const admin = server.admin;
  expect((await admin.post('/admin/v1/tenants', { id: 'shop', name: `Shop ${XSS}` })).status).toBe(201);
  expect((await admin.post('/admin/v1/tenants/shop/policies', { files: { 'shop.cedar': V1 }, message: 'first' })).status).toBe(201);
  expect((await admin.post('/admin/v1/tenants/shop/policies', { files: { 'shop.cedar': V2 }, message: 'writers', activate: false })).status).toBe(201);
  expect((await admin.post('/admin/v1/tenants', { id: 'other' })).status).toBe(201);
  const pdp = createClient(server.url, null);
  expect(await decide(pdp, 'alice', 'read')).toBe(true);
  expect(await decide(pdp, 'mallory', 'read')).toBe(true);
  expect(await decide(pdp, 'bob', 'write')).toBe(false);
  expect(await decide(pdp, XSS, 'read')).toBe(true);
  expect(await decide(pdp, 'carol', 'delete', { 'x-verity-observe': 'true', 'x-verity-tier': 'gateway' })).toBe(false);
  const author = await admin.post('/admin/v1/tenants/shop/credentials', { role: 'policy-author' });
  authorToken = author.body.token;
  browser = await launching;
  page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  page.setDefaultTimeout(10_000);
  page.on('console', (message) => void (message.type() === 'error' && consoleErrors.push(message.text())));
  page.on('pageerror', (error) => void pageErrors.push(error.message));
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await server?.close();

});

describe('web console', () => {
  it('is served with a strict CSP and no secret, at /console/', async () => {
    const index = await fetch(`${server.url}/console/`);
    expect(index.status).toBe(200);
    expect(index.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(index.headers.get('content-security-policy')).toBe(
      "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
    );
    expect(index.headers.get('x-content-type-options')).toBe('nosniff');
    expect(index.headers.get('referrer-policy')).toBe('no-referrer');
    const html = await index.text();
    expect(html).not.toMatch(/vrt_|<script>|<style|style=/);
    expect(html).not.toContain(ADMIN_TOKEN);
    const script = await fetch(`${server.url}/console/app.mjs`);
    expect([script.status, script.headers.get('content-type'), script.headers.get('content-security-policy')]).toEqual([200, 'text/javascript; charset=utf-8', index.headers.get('content-security-policy')]);
    const bare = await fetch(`${server.url}/console`, { redirect: 'manual' });
    expect([bare.status, bare.headers.get('location')]).toEqual([308, '/console/']);
    const missing = await fetch(`${server.url}/console/nothing.mjs`);
    expect([missing.status, ((await missing.json()) as { code?: string }).code]).toEqual([404, 'ERR_REQUEST_NOT_FOUND']);
  });

  it('refuses a bad credential with the server\'s 401, then signs a platform admin in to every tenant', async () => {
    await signIn(`vrt_${'x'.repeat(43)}`);
    const refused = page.locator('#login .error');
    await refused.waitFor();
    expect(await refused.locator('.code').innerText()).toBe('ERR_AUTH_INVALID');
    await shot('login-refused');

    await signIn(ADMIN_TOKEN);
    await ready('tenants');
    const rows = page.locator('#tenants tbody tr');
    expect(await rows.locator('td:first-child').allInnerTexts()).toEqual(expect.arrayContaining(['shop', 'other']));
    // The tenant's name holds markup: shown as text, never run.
    expect(await rows.filter({ hasText: 'shop' }).locator('td').nth(1).innerText()).toBe(`Shop ${XSS}`);
    expect(await page.locator('#tenants img').count()).toBe(0);
    expect(await page.evaluate('sessionStorage.length')).toBe(1);
    await shot('tenants');
  });

  it('lists versions, shows the changes between two, and activates one after a confirmation', async () => {
    await page.click('#tenants a:text-is("shop")');
    await ready('versions');
    expect(await page.locator('#versions tbody tr').count()).toBe(2);
    expect(await page.locator('#versions tbody tr:has(.badge.active) td:first-child').innerText()).toBe('1');

    await page.selectOption('#diff-from', '1');
    await page.selectOption('#diff-to', '2');
    await page.click('#diff-form button');
    await page.locator('#version-detail h2').waitFor();
    expect(await page.locator('#version-detail h3').allInnerTexts()).toEqual(['Policy write added', 'Policy read changed']);
    const changed = page.locator('#version-detail .diff').nth(1);
    expect(await changed.locator('.del').allInnerTexts()).toEqual(['- @id("read") permit(principal, action == Action::"read", resource);']);
    expect(await changed.locator('.add').allInnerTexts()).toEqual(['+ @id("read") permit(principal, action == Action::"read", resource)', '+ unless { principal == User::"mallory" };']);
    await shot('versions-diff');

    await page.click('button[data-view="2"]');
    await page.locator('#version-detail h2:text-is("Version 2")').waitFor();
    expect(await page.locator('#version-detail .policy h4').allInnerTexts()).toEqual(['read', 'write', 'no-delete']);

    // Dismissed: nothing changes. Accepted: version 2 is active, as the API says.
    page.once('dialog', (dialog) => void dialog.dismiss());
    await page.click('button[data-activate="2"]');
    expect((await server.admin.get('/admin/v1/tenants/shop')).body.activeVersion).toBe(1);
    page.once('dialog', (dialog) => void dialog.accept());
    await page.click('button[data-activate="2"]');
    await page.locator('#versions-status .notice').waitFor();
    expect(await page.locator('#versions-status .notice').innerText()).toBe('Version 2 is now active.');
    expect((await server.admin.get('/admin/v1/tenants/shop')).body.activeVersion).toBe(2);
    expect(await page.locator('#versions tbody tr:has(.badge.active) td:first-child').innerText()).toBe('2');
    await shot('versions-activated');
  });

  it('decides a draft and a request in the playground: allow and deny with the determining policies, and a policy error', async () => {
    await page.click('nav a:text-is("Playground")');
    await ready('playground');
    expect(await page.inputValue('#playground-policies')).toContain('@id("write")');
    const ask = async (user: string, action: string) => {
      await page.fill('#playground-request', JSON.stringify({ subject: { type: 'User', id: user }, action: { name: action }, resource: { type: 'Doc', id: 'd1' } }));
      await page.click('#playground-form button[type=submit]');
    };
    await ask('alice', 'write');
    await page.locator('#playground-decision:text-is("allow")').waitFor();
    expect(await page.locator('#playground-determining li').allInnerTexts()).toEqual(['write']);
    await shot('playground-allow');

    await ask('alice', 'delete');
    await page.locator('#playground-decision:text-is("deny")').waitFor();
    expect(await page.locator('#playground-determining li').allInnerTexts()).toEqual(['no-delete']);
    expect(await page.locator('#playground-explanation .forbids li').allInnerTexts()).toEqual(['no-delete']);

    // No permit applies: the explanation says which came closest and which clause kept it out.
    await ask('mallory', 'read');
    await page.locator('#playground-result:has(#playground-determining.muted)').waitFor();
    expect(await page.locator('#playground-decision').innerText()).toBe('deny');
    expect(await page.locator('#playground-explanation li[data-policy="read"]').innerText()).toMatch(/^read — 1 of 1 clause\(s\) did not hold\nunless #0 was true: principal == User::"mallory"/);
    await shot('playground-deny');

    await page.fill('#playground-policies', 'permit(principal, action, resource) when {');
    await page.click('#playground-form button[type=submit]');
    await page.locator('#playground-result .error').waitFor();
    expect(await page.locator('#playground-result .error .code').innerText()).toBe('ERR_POLICY_PARSE');
    await shot('playground-error');
  });

  it('shows the decision log with its filters, principals holding markup as text, and the audit chain intact', async () => {
    await page.click('nav a:text-is("Decision log")');
    await ready('audit');
    expect(await page.locator('#audit-chain-status').innerText()).toMatch(/^intact \d+ records checked/);
    const principals = () => page.locator('#audit-events td.principal').allInnerTexts();
    expect(await principals()).toEqual(['User::"alice"', 'User::"mallory"', 'User::"bob"', `User::${JSON.stringify(XSS)}`, 'User::"carol"']);
    expect(await page.locator('#audit-events img').count()).toBe(0);
    expect(await page.evaluate('window.__xss')).toBeUndefined();
    await shot('decision-log');

    await page.selectOption('#filter-decision', 'deny');
    await page.click('#audit-filters button');
    await eventually(async () => expect(await page.locator('#audit-events tbody tr').count()).toBe(2), 10_000);
    expect(await principals()).toEqual(['User::"bob"', 'User::"carol"']);
    await page.selectOption('#filter-decision', '');
    await page.fill('#filter-principal', 'User::"alice"');
    await page.click('#audit-filters button');
    await eventually(async () => expect(await page.locator('#audit-events tbody tr').count()).toBe(1), 10_000);
    expect(await principals()).toEqual(['User::"alice"']);
    await shot('decision-log-filtered');
  });

  it('shows the observe report: the unenforced denies with their principals and policies', async () => {
    await page.click('nav a:text-is("Observe report")');
    await ready('observe');
    const cells = await page.locator('#observe-groups tbody tr td').allInnerTexts();
    expect(cells.slice(0, 6)).toEqual(['gateway', 'Action::"delete"', 'Doc::"d1"', '1', '1\nUser::"carol"', 'no-delete']);
    await shot('observe-report');
  });

  it('replays a version against the recorded decisions and lists the flips', async (context) => {
    const probe = await server.admin.post('/admin/v1/tenants/shop/policies/replay', { version: 1, since: '1h' });
    if (probe.status === 404 && probe.body?.code === 'ERR_REQUEST_NOT_FOUND') context.skip(); // the replay endpoint has not landed yet
    // Version 2 is active now: replaying 1 flips nothing recorded on 1; the decisions were all made on 1.
    await page.click('nav a:text-is("Replay")');
    await ready('replay');
    await page.selectOption('#replay-version', '2');
    await page.fill('#replay-since', '1h');
    await page.click('#replay-form button');
    await page.locator('#replay-summary').waitFor();
    const flips = await Promise.all((await page.locator('#replay-flips tbody tr').all()).map(async (row) => (await row.locator('td').allInnerTexts()).slice(1)));
    expect(flips).toEqual([
      ['User::"mallory"', 'Action::"read"', 'Doc::"d1"', 'allow version 1', 'deny'],
      ['User::"bob"', 'Action::"write"', 'Doc::"d1"', 'deny version 1', 'allow write'],
    ]);
    await shot('replay');
  });

  it('signs a policy author of one tenant in there, and shows the server\'s 403 for the tenant list and another tenant', async () => {
    await page.click('#sign-out');
    await page.locator('#login').waitFor();
    expect(await page.evaluate('sessionStorage.length')).toBe(0);
    await signIn(authorToken, 'shop');
    await ready('versions');
    expect(await page.locator('#current-tenant').innerText()).toBe('shop');
    expect(await page.locator('#versions tbody tr').count()).toBe(2);

    await page.click('nav a:text-is("Tenants")');
    await ready('tenants');
    expect(await page.locator('section.page .error .code').innerText()).toBe('ERR_AUTH_FORBIDDEN');
    expect(await page.locator('#tenants').count()).toBe(0);
    await shot('author-tenants-refused');

    await page.fill('#open-tenant', 'other');
    await page.click('#open-tenant-form button');
    await page.locator('#current-tenant:text-is("other")').waitFor();
    await ready('versions');
    expect(await page.locator('section.page .error .code').innerText()).toBe('ERR_AUTH_FORBIDDEN');
    expect(await page.locator('#versions').count()).toBe(0);
    await shot('author-other-tenant-refused');
  });

  it('broke no CSP rule and threw no page error on any page', () => {
    expect(pageErrors).toEqual([]);
    // The API's refusals (401, 403, 400) are logged by Chromium as failed loads; nothing else is.
    expect(consoleErrors.filter((text) => !/^Failed to load resource: the server responded with a status of 4\d\d/.test(text))).toEqual([]);
    expect(consoleErrors.join('\n')).not.toMatch(/Content Security Policy|Refused to/);
  });

  it('is not served with the console off (--no-console, config console: false)', async () => {
    // The same server's parts in an app built with the console off (serve.test.ts holds the flag
    // and VERITY_CONSOLE to this setting): a second server would cost seconds for one answer.
    const off = await buildApp({ ...server.components, config: Object.freeze({ ...server.components.config, console: false }) });
    try {
      for (const url of ['/console/', '/console/app.mjs', '/console']) {
        const answer = await off.inject(url);
        expect([answer.statusCode, answer.json().code], url).toEqual([404, 'ERR_REQUEST_NOT_FOUND']);
      }
    } finally {
      await off.close();
    }
  });
});
