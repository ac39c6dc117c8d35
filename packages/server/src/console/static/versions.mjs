/**
 * A tenant's policy versions: the list, one version's text, the changes between two (the diff
 * endpoint's ids, with each text's line diff), and activation after a confirmation.
 */
import { api, tenantPath } from './api.mjs';
import { add, badge, field, h, put, showing, table, time } from './dom.mjs';
import { lineDiff } from './line-diff.mjs';

/** `notice`: a line shown above the list (after an activation). */
export async function versionsPage(view, tenant, notice = null) {
  const [info, { versions }] = await Promise.all([api('GET', tenantPath(tenant)), api('GET', tenantPath(tenant, '/policies/versions'))]);
  add(view, h('h1', {}, 'Policy versions'), info.name && info.name !== tenant ? h('p', { class: 'muted', id: 'tenant-name' }, info.name) : null);
  const status = h('div', { id: 'versions-status' }, notice);
  add(view, status);
  if (versions.length === 0) {
    add(view, h('p', { class: 'muted' }, 'No versions yet: push one with `verity policy push`.'));
    return;
  }
  const detail = h('div', { id: 'version-detail' });
  const rows = [...versions].reverse().map((version) => [
    version.version,
    time(version.createdAt),
    version.createdBy,
    version.message,
    version.active ? badge('active') : '',
    h(
      'div',
      { class: 'actions' },
      h('button', { type: 'button', class: 'secondary', 'data-view': version.version, onclick: () => showing(detail, () => showVersion(detail, tenant, version.version)) }, 'View'),
      version.active ? null : h('button', { type: 'button', 'data-activate': version.version, onclick: () => showing(status, () => activate(view, tenant, version.version)) }, 'Activate'),
    ),
  ]);
  add(view, table(['Version', 'Created', 'By', 'Message', 'State', ''], rows, { id: 'versions' }), diffForm(tenant, versions, detail), detail);
}

function diffForm(tenant, versions, detail) {
  const choice = (name, selected) => h('select', { name, id: `diff-${name}` }, versions.map((v) => h('option', { value: String(v.version), selected: v.version === selected }, `${v.version}${v.active ? ' (active)' : ''}`)));
  const newest = versions[versions.length - 1].version;
  const active = versions.find((v) => v.active)?.version;
  const from = choice('from', active !== undefined && active !== newest ? active : (versions[versions.length - 2]?.version ?? newest));
  const to = choice('to', newest);
  const form = h('form', { class: 'inline', id: 'diff-form' }, field('From', from), field('To', to), h('button', { type: 'submit' }, 'Compare'));
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    void showing(detail, () => showDiff(detail, tenant, Number(from.value), Number(to.value)));
  });
  return h('div', {}, h('h2', {}, 'Compare two versions'), form);
}

async function activate(view, tenant, version) {
  if (!window.confirm(`Activate version ${version} of ${tenant}? Every decision for the tenant uses it at once.`)) return;
  await api('POST', tenantPath(tenant, '/policies/activate'), { body: { version } });
  put(view);
  await versionsPage(view, tenant, h('div', { class: 'notice', role: 'status' }, `Version ${version} is now active.`));
}

async function showVersion(detail, tenant, number) {
  const version = await api('GET', tenantPath(tenant, `/policies/versions/${number}`));
  const { policies, templates, links, schema, validationMode } = version.content;
  const texts = (title, byId) =>
    Object.keys(byId).length === 0 ? null : [h('h3', {}, title), Object.entries(byId).map(([id, text]) => h('div', { class: 'policy' }, h('h4', { class: 'mono' }, id), h('pre', {}, text)))];
  put(
    detail,
    h('h2', {}, `Version ${version.version}`),
    h('p', { class: 'muted' }, `${version.message || 'no message'} · by ${version.createdBy} · validation ${validationMode}`),
    texts('Policies', policies),
    texts('Templates', templates),
    links.length === 0 ? null : [h('h3', {}, 'Template links'), h('pre', {}, JSON.stringify(links, null, 2))],
    h('h3', {}, 'Schema'),
    schema === undefined ? h('p', { class: 'muted' }, 'No schema.') : h('pre', { class: 'schema' }, schema),
  );
}

function diffLines(before, after) {
  return h(
    'pre',
    { class: 'diff' },
    lineDiff(before, after).map(([op, line]) => h('span', { class: op === '+' ? 'add' : op === '-' ? 'del' : null }, `${op} ${line}`)),
  );
}

async function showDiff(detail, tenant, from, to) {
  const [diff, before, after] = await Promise.all([
    api('GET', tenantPath(tenant, '/policies/diff'), { query: { from, to } }),
    api('GET', tenantPath(tenant, `/policies/versions/${from}`)),
    api('GET', tenantPath(tenant, `/policies/versions/${to}`)),
  ]);
  const sections = [];
  for (const [kind, title] of [['policies', 'Policy'], ['templates', 'Template']]) {
    const { added, removed, changed } = diff[kind];
    const was = before.content[kind];
    const now = after.content[kind];
    for (const id of added) sections.push(h('h3', { class: 'added' }, `${title} ${id} added`), diffLines('', now[id]));
    for (const id of removed) sections.push(h('h3', { class: 'removed' }, `${title} ${id} removed`), diffLines(was[id], ''));
    for (const id of changed) sections.push(h('h3', { class: 'changed' }, `${title} ${id} changed`), diffLines(was[id], now[id]));
  }
  const { added, removed, changed } = diff.links;
  for (const [ids, what] of [[added, 'added'], [removed, 'removed'], [changed, 'changed']]) for (const id of ids) sections.push(h('h3', {}, `Template link ${id} ${what}`));
  if (diff.schemaChanged) sections.push(h('h3', {}, 'Schema changed'), diffLines(before.content.schema ?? '', after.content.schema ?? ''));
  if (diff.validationModeChanged) sections.push(h('h3', {}, `Validation mode: ${before.content.validationMode} → ${after.content.validationMode}`));
  put(detail, h('h2', {}, `From version ${diff.from} to version ${diff.to}`), sections.length === 0 ? h('p', { class: 'muted' }, 'No changes.') : sections);
}
