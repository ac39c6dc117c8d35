/**
 * The console's entry: sign-in, the navigation and the hash router. Pages are modules that render
 * into a fresh section; an API error a page does not handle itself is shown in its place, and a
 * 401 (a bad, revoked or rotated credential) drops the credential and asks for one again.
 */
import { api, ApiError, credential, tenantPath } from './api.mjs';
import { add, errorBox, field, h, put, tenantHref } from './dom.mjs';
import { tenantsPage } from './tenants.mjs';
import { versionsPage } from './versions.mjs';
import { playgroundPage } from './playground.mjs';
import { auditPage } from './audit.mjs';
import { observePage, replayPage } from './rollout.mjs';

const main = document.getElementById('main');
const nav = document.getElementById('nav');
const signOut = document.getElementById('sign-out');

/** The pages of one tenant: hash segment, navigation label, renderer. */
const TENANT_PAGES = [
  ['versions', 'Policy versions', versionsPage],
  ['playground', 'Playground', playgroundPage],
  ['audit', 'Decision log', auditPage],
  ['observe', 'Observe report', observePage],
  ['replay', 'Replay', replayPage],
];

/** The route of the current hash: `{page: 'tenants'}` or `{page, tenant}`; unknown hashes are the tenants list. */
function route() {
  const match = /^#\/t\/([^/]+)\/([a-z]+)$/.exec(window.location.hash);
  if (match) {
    let tenant;
    try {
      tenant = decodeURIComponent(match[1]);
    } catch {
      return { page: 'tenants' };
    }
    if (TENANT_PAGES.some(([page]) => page === match[2])) return { page: match[2], tenant };
  }
  return { page: 'tenants' };
}

function renderNav(current) {
  const link = (href, label, active) => h('a', { href, 'aria-current': active ? 'page' : null }, label);
  put(
    nav,
    link('#/tenants', 'Tenants', current.page === 'tenants'),
    current.tenant === undefined
      ? null
      : [h('span', { class: 'tenant' }, 'Tenant ', h('strong', { id: 'current-tenant' }, current.tenant), ':'), TENANT_PAGES.map(([page, label]) => link(tenantHref(current.tenant, page), label, current.page === page))],
  );
}

function renderLogin(problem) {
  put(nav);
  signOut.hidden = true;
  const token = h('input', { type: 'password', name: 'credential', autocomplete: 'off', required: true, placeholder: 'vrt_…', id: 'credential' });
  const tenant = h('input', { type: 'text', name: 'tenant', autocomplete: 'off', placeholder: 'optional', id: 'login-tenant' });
  const form = h(
    'form',
    { class: 'login', id: 'login' },
    h('h1', {}, 'Sign in to Verity'),
    h('p', { class: 'muted' }, 'With a Verity admin credential (a platform admin, or a policy author of one tenant). It is kept in this tab only and sent to this server alone.'),
    problem === undefined ? null : errorBox(problem),
    field('Credential', token),
    field('Tenant (for a credential bound to one)', tenant),
    h('button', { type: 'submit' }, 'Sign in'),
  );
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    void signIn(token.value.trim(), tenant.value.trim());
  });
  put(main, form);
  token.focus();
}

/**
 * Keep the credential once the server has accepted it: listing tenants (a platform admin) or
 * reading the tenant given (a tenant's author). A 403 on the list alone still signs in: the
 * tenants page says what the credential may not do.
 */
async function signIn(token, tenant) {
  if (token === '') return;
  credential.set(token);
  try {
    if (tenant !== '') await api('GET', tenantPath(tenant));
    else await api('GET', '/admin/v1/tenants').catch((error) => {
      if (!(error instanceof ApiError && error.status === 403)) throw error;
    });
  } catch (error) {
    credential.clear();
    renderLogin(error);
    return;
  }
  const target = tenant === '' ? '#/tenants' : tenantHref(tenant);
  if (window.location.hash === target) void render();
  else window.location.hash = target;
}

let renders = 0;

async function render() {
  if (!credential.get()) return renderLogin();
  signOut.hidden = false;
  const current = route();
  renderNav(current);
  const view = h('section', { class: `page page-${current.page}` });
  put(main, view);
  const mine = ++renders;
  try {
    if (current.tenant === undefined) await tenantsPage(view);
    else await TENANT_PAGES.find(([page]) => page === current.page)[2](view, current.tenant);
    view.dataset.ready = 'true';
  } catch (error) {
    if (mine !== renders) return; // the user has moved on; this page is no longer shown
    if (error instanceof ApiError && error.status === 401) {
      credential.clear();
      return renderLogin(error);
    }
    add(view, errorBox(error));
    view.dataset.ready = 'true';
  }
}

signOut.addEventListener('click', () => {
  credential.clear();
  renderLogin();
});
window.addEventListener('hashchange', () => void render());
void render();
