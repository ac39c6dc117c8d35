/**
 * The decision log (`GET …/audit` with its filters, paged by `next`) and the state of the
 * tenant's audit hash chain (`GET …/audit/verify`).
 */
import { api, tenantPath } from './api.mjs';
import { add, badge, field, h, put, showing, table, time, uidText } from './dom.mjs';

const PAGE = 50;

export async function auditPage(view, tenant) {
  const chain = h('div', { id: 'audit-chain' }, h('p', { class: 'muted' }, 'Verifying the audit chain…'));
  const controls = {
    decision: h('select', { name: 'decision', id: 'filter-decision' }, h('option', { value: '' }, 'any'), h('option', { value: 'allow' }, 'allow'), h('option', { value: 'deny' }, 'deny')),
    principal: h('input', { type: 'text', name: 'principal', id: 'filter-principal', placeholder: 'User::"alice"', autocomplete: 'off' }),
    requestId: h('input', { type: 'text', name: 'requestId', id: 'filter-request-id', autocomplete: 'off' }),
    txn: h('input', { type: 'text', name: 'txn', id: 'filter-txn', autocomplete: 'off' }),
    caller: h('input', { type: 'text', name: 'caller', id: 'filter-caller', placeholder: 'spiffe://…', autocomplete: 'off' }),
  };
  const form = h(
    'form',
    { class: 'inline', id: 'audit-filters' },
    field('Decision', controls.decision),
    field('Principal', controls.principal),
    field('Request id', controls.requestId),
    field('Transaction (txn)', controls.txn),
    field('Calling workload', controls.caller),
    h('button', { type: 'submit' }, 'Filter'),
  );
  const results = h('div', { id: 'audit-results' });
  const filters = () => Object.fromEntries(Object.entries(controls).map(([name, control]) => [name, control.value.trim()]));
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    void showing(results, () => showEvents(results, tenant, filters()));
  });
  add(view, h('h1', {}, 'Decision log'), h('h2', {}, 'Audit chain'), chain, h('h2', {}, 'Decisions'), form, results);
  await Promise.all([showing(chain, () => showChain(chain, tenant)), showEvents(results, tenant, filters())]);
}

async function showChain(chain, tenant) {
  const report = await api('GET', tenantPath(tenant, '/audit/verify'));
  put(
    chain,
    report.ok
      ? h('p', { id: 'audit-chain-status' }, badge('intact', 'ok'), ` ${report.checked} records checked: every record's hash and link holds.`)
      : h('p', { id: 'audit-chain-status' }, badge('broken'), ` ${report.problems.length} problem(s) in ${report.checked} records checked.`),
    report.problems.length === 0 ? null : table(['Seq', 'Problem'], report.problems.map((problem) => [problem.seq, problem.kind])),
  );
}

/** The first page of events matching `query`, with a button that appends the next. */
async function showEvents(results, tenant, query) {
  const page = await api('GET', tenantPath(tenant, '/audit'), { query: { ...query, limit: PAGE } });
  if (page.events.length === 0) {
    put(results, h('p', { class: 'muted', id: 'audit-empty' }, 'No decisions match.'));
    return;
  }
  const body = table(['Seq', 'Time', 'Decision', 'Principal', 'Action', 'Resource', 'Determining', 'Errors', 'Version', 'Tier'], [], { id: 'audit-events' });
  const rows = body.querySelector('tbody');
  const more = h('button', { type: 'button', class: 'secondary', id: 'audit-more' }, 'More');
  const appendPage = (events, next) => {
    add(rows, events.map(eventRow));
    more.hidden = next === null || next === undefined;
    more.dataset.next = String(next);
  };
  more.addEventListener('click', () => {
    void showing(results, async () => {
      const next = await api('GET', tenantPath(tenant, '/audit'), { query: { ...query, limit: PAGE, after: more.dataset.next } });
      appendPage(next.events, next.next);
    });
  });
  appendPage(page.events, page.next);
  put(results, body, more);
}

function eventRow(event) {
  return h(
    'tr',
    { 'data-seq': event.seq },
    h('td', { class: 'num' }, event.seq),
    h('td', {}, time(event.time)),
    h('td', {}, badge(event.decision), event.observed ? [' ', badge('observed')] : null),
    h('td', { class: 'mono principal' }, uidText(event.principal)),
    h('td', { class: 'mono' }, uidText(event.action)),
    h('td', { class: 'mono' }, uidText(event.resource)),
    h('td', { class: 'mono' }, event.reasons.join(', ')),
    h('td', {}, event.errors.map((e) => `${e.policyId}: ${e.message}`).join('; ')),
    h('td', { class: 'num' }, event.policyVersion),
    h('td', {}, event.tier ?? ''),
  );
}
