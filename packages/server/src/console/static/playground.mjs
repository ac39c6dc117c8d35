/**
 * The playground: draft policies decided on a request with the tenant's schema, settings and
 * stored entities (`POST …/playground`; nothing is stored, activated or audited as a decision).
 */
import { api, ApiError, tenantPath } from './api.mjs';
import { add, field, h, put, showing } from './dom.mjs';

/** The request a new playground starts from (AuthZEN's shape, as the decision endpoints take). */
const EXAMPLE_REQUEST = {
  subject: { type: 'User', id: 'alice' },
  action: { name: 'read' },
  resource: { type: 'Document', id: 'doc-1' },
  context: {},
};

export async function playgroundPage(view, tenant) {
  let active = null;
  try {
    active = await api('GET', tenantPath(tenant, '/policies/versions/active'));
  } catch (error) {
    if (!(error instanceof ApiError && error.code === 'ERR_POLICY_VERSION_NOT_FOUND')) throw error;
  }
  const editor = (id, rows, value) => {
    const area = h('textarea', { id, name: id, rows, spellcheck: 'false', autocomplete: 'off' });
    area.value = value;
    return area;
  };
  const policies = editor('playground-policies', 18, active === null ? '' : Object.values(active.content.policies).join('\n\n'));
  const request = editor('playground-request', 12, JSON.stringify(EXAMPLE_REQUEST, null, 2));
  const entities = editor('playground-entities', 6, '[]');
  const result = h('div', { id: 'playground-result', 'aria-live': 'polite' });
  const form = h(
    'form',
    { id: 'playground-form' },
    h(
      'div',
      { class: 'columns' },
      h('div', {}, field('Policies (Cedar; the active version\'s to start with)', policies)),
      h('div', {}, field('Request (JSON: subject, action, resource, context)', request), field('Entities laid over the stored ones (Cedar entity JSON)', entities)),
    ),
    h('button', { type: 'submit' }, 'Decide'),
  );
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    void showing(result, async () => {
      const body = { policies: policies.value, request: parseJson(request.value, 'request'), entities: parseJson(entities.value, 'entities') };
      renderAnswer(result, await api('POST', tenantPath(tenant, '/playground'), { body }));
    });
  });
  add(
    view,
    h('h1', {}, 'Playground'),
    h(
      'p',
      { class: 'muted' },
      active === null
        ? 'The tenant has no active version: drafts are decided without a schema.'
        : `Drafts are checked and decided with the schema of the active version ${active.version} (validation ${active.content.validationMode}) and the tenant's settings and entities. Nothing is stored or activated.`,
    ),
    active?.content.schema === undefined ? null : h('details', { id: 'playground-schema' }, h('summary', {}, "The tenant's schema"), h('pre', {}, active.content.schema)),
    form,
    result,
  );
}

/** JSON the user typed, or an error the page shows with the field's name. */
function parseJson(text, name) {
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new ApiError(0, 'INVALID_JSON', `${name} is not JSON: ${error.message}`);
  }
}

function list(id, items, empty) {
  return items.length === 0 ? h('p', { class: 'muted', id }, empty) : h('ul', { id }, items.map((item) => h('li', { class: 'mono' }, item)));
}

function renderAnswer(result, answer) {
  put(
    result,
    h('h2', {}, 'Decision ', h('span', { id: 'playground-decision', class: `badge decision ${answer.decision}` }, answer.decision)),
    h('h3', {}, 'Determining policies'),
    list('playground-determining', answer.determining, answer.decision === 'deny' ? 'None: no permit applied, so the default deny.' : 'None.'),
    h('h3', {}, 'Errors'),
    list('playground-errors', answer.errors.map((e) => `${e.policyId}: ${e.message}`), 'None.'),
    h('h3', {}, 'Explanation'),
    explanation(answer.explanation),
  );
}

/**
 * The explanation (docs/explain.md): on a deny the permits that came closest and the forbids that
 * applied, on an allow the determining permits; each with what kept it from applying and its
 * reason texts. A shape this page does not know is shown as its JSON.
 */
function explanation(value) {
  if (value === null || value === undefined) return h('p', { class: 'muted', id: 'playground-explanation' }, 'None for this decision.');
  if (!Array.isArray(value.permits)) return h('pre', { id: 'playground-explanation' }, JSON.stringify(value, null, 2));
  const allow = value.decision === 'allow';
  const forbids = Array.isArray(value.forbids) ? value.forbids : [];
  const notes = Array.isArray(value.notes) ? value.notes : [];
  return h(
    'div',
    { id: 'playground-explanation' },
    h('h4', {}, allow ? 'Determined by' : 'Closest permits'),
    value.permits.length === 0 ? h('p', { class: 'muted' }, 'None.') : h('ul', { class: 'permits' }, value.permits.map(permitItem)),
    value.morePermits > 0 ? h('p', { class: 'muted' }, `${value.morePermits} more permit(s), further away.`) : null,
    allow ? null : [h('h4', {}, 'Forbids that applied'), forbids.length === 0 ? h('p', { class: 'muted' }, 'None.') : h('ul', { class: 'forbids' }, forbids.map((f) => h('li', {}, h('strong', { class: 'mono' }, f.policyId), reasonList(f))))],
    notes.length === 0 ? null : h('ul', { class: 'notes' }, notes.map((note) => h('li', { class: 'muted' }, `Note: ${note}`))),
    h('details', {}, h('summary', {}, 'As JSON'), h('pre', {}, JSON.stringify(value, null, 2))),
  );
}

/** One permit: applies, or the scope parts that did not match, or the clauses that did not hold. */
function permitItem(permit) {
  const failed = Array.isArray(permit.failed) ? permit.failed : [];
  const errored = Array.isArray(permit.errored) ? permit.errored : [];
  const scope = Array.isArray(permit.unmatchedScope) ? permit.unmatchedScope : [];
  const summary = permit.applies
    ? 'applies'
    : scope.length > 0
      ? `scope did not match: ${scope.join(', ')}`
      : `${failed.length + errored.length} of ${permit.clauses} clause(s) did not hold`;
  return h(
    'li',
    { 'data-policy': permit.policyId },
    h('strong', { class: 'mono' }, permit.policyId),
    ` — ${summary}`,
    failed.length + errored.length === 0
      ? null
      : h('ul', {}, [
          ...failed.map((c) => h('li', { class: 'mono' }, `${c.kind} #${c.index} ${c.kind === 'when' ? 'was false' : 'was true'}: ${c.text}`)),
          ...errored.map((c) => h('li', { class: 'mono' }, `${c.kind} #${c.index} errored: ${c.text} (${c.message ?? ''})`)),
        ]),
    reasonList(permit),
  );
}

function reasonList(policy) {
  const reasons = [policy.reasonUser === undefined ? null : `reason (user): ${policy.reasonUser}`, policy.reasonAdmin === undefined ? null : `reason (admin): ${policy.reasonAdmin}`].filter(Boolean);
  return reasons.length === 0 ? null : h('ul', {}, reasons.map((reason) => h('li', {}, reason)));
}
