/** The tenants page: every tenant (`tenant.list`, platform admins), or a tenant opened by id. */
import { api, ApiError } from './api.mjs';
import { add, errorBox, field, h, table, tenantHref, time } from './dom.mjs';

export async function tenantsPage(view) {
  add(view, h('h1', {}, 'Tenants'));
  try {
    const { tenants } = await api('GET', '/admin/v1/tenants');
    add(
      view,
      tenants.length === 0
        ? h('p', { class: 'muted' }, 'No tenants yet: create one with `verity tenant create`.')
        : table(
            ['Tenant', 'Name', 'Active version', 'Created'],
            tenants.map((tenant) => [h('a', { href: tenantHref(tenant.id) }, tenant.id), tenant.name, tenant.activeVersion ?? '—', time(tenant.createdAt)]),
            { id: 'tenants' },
          ),
    );
  } catch (error) {
    // Not allowed to list them all (a credential bound to one tenant): the server's refusal, then the way in.
    if (!(error instanceof ApiError && error.status === 403)) throw error;
    add(view, errorBox(error), h('p', { class: 'muted' }, 'This credential may not list tenants. A credential bound to one tenant opens that tenant by its id.'));
  }
  const id = h('input', { type: 'text', name: 'tenant', required: true, autocomplete: 'off', id: 'open-tenant' });
  const form = h('form', { class: 'inline', id: 'open-tenant-form' }, field('Open a tenant by id', id), h('button', { type: 'submit' }, 'Open'));
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    if (id.value.trim() !== '') window.location.hash = tenantHref(id.value.trim());
  });
  add(view, form);
}
