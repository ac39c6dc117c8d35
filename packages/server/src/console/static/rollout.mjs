/**
 * Safe rollout (docs/policy-rollout.md): the observe report (`GET …/audit/observe-report`, what PEPs
 * in observe mode would have denied) and replay (`POST …/policies/replay`, the recorded decisions
 * a candidate version would flip).
 */
import { api, tenantPath } from './api.mjs';
import { add, badge, field, h, put, showing, table, tenantHref, time } from './dom.mjs';

const sinceInput = (id) => h('input', { type: 'text', name: 'since', id, value: '24h', required: true, autocomplete: 'off', title: 'a duration (90s, 30m, 24h, 7d) or an ISO-8601 time' });

export async function observePage(view, tenant) {
  const since = sinceInput('observe-since');
  const result = h('div', { id: 'observe-result' });
  const form = h('form', { class: 'inline', id: 'observe-form' }, field('Since', since), h('button', { type: 'submit' }, 'Show'));
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    void showing(result, () => showReport(result, tenant, since.value.trim()));
  });
  add(
    view,
    h('h1', {}, 'Observe report'),
    h('p', { class: 'muted' }, 'The denies PEPs in observe mode recorded without enforcing them, by tier, action and resource: what enforcing would refuse.'),
    form,
    result,
  );
  await showReport(result, tenant, since.value);
}

async function showReport(result, tenant, since) {
  const report = await api('GET', tenantPath(tenant, '/audit/observe-report'), { query: { since } });
  put(
    result,
    h('p', { class: 'muted' }, 'Since ', time(report.since), '.'),
    report.groups.length === 0
      ? h('p', { class: 'muted', id: 'observe-empty' }, 'No unenforced denies in this window.')
      : table(
          ['Tier', 'Action', 'Resource', 'Would-be denies', 'Principals', 'Determining policies', 'First seen', 'Last seen'],
          report.groups.map((group) => [
            group.tier ?? '',
            h('span', { class: 'mono' }, group.action),
            h('span', { class: 'mono' }, group.resource),
            h('td', { class: 'num' }, group.denied),
            [String(group.principals), h('ul', {}, group.samplePrincipals.map((principal) => h('li', { class: 'mono principal' }, principal)))],
            group.policies.length === 0 ? h('span', { class: 'muted' }, 'none: no permit applied') : h('span', { class: 'mono' }, group.policies.join(', ')),
            time(group.firstSeen),
            time(group.lastSeen),
          ]),
          { id: 'observe-groups' },
        ),
  );
}

export async function replayPage(view, tenant) {
  const { versions } = await api('GET', tenantPath(tenant, '/policies/versions'));
  add(view, h('h1', {}, 'Replay'), h('p', { class: 'muted' }, "Decide the tenant's recorded decisions again on a candidate version, before activating it, and list each one that would flip."));
  if (versions.length === 0) {
    add(view, h('p', { class: 'muted' }, 'No versions yet: push one with `verity policy push --no-activate`.'));
    return;
  }
  const candidate = [...versions].reverse().find((v) => !v.active) ?? versions[versions.length - 1];
  const version = h('select', { name: 'version', id: 'replay-version' }, [...versions].reverse().map((v) => h('option', { value: String(v.version), selected: v === candidate }, `${v.version}${v.active ? ' (active)' : ''}${v.message ? ` — ${v.message}` : ''}`)));
  const since = sinceInput('replay-since');
  const result = h('div', { id: 'replay-result' });
  const form = h('form', { class: 'inline', id: 'replay-form' }, field('Candidate version', version), field('Decisions since', since), h('button', { type: 'submit' }, 'Replay'));
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    void showing(result, async () => {
      const body = { version: Number(version.value), since: since.value.trim() };
      showReplay(result, tenant, body.version, await api('POST', tenantPath(tenant, '/policies/replay'), { body }));
    });
  });
  add(view, form, result);
}

function showReplay(result, tenant, version, answer) {
  const counts = `${answer.examined} examined, ${answer.replayed} replayed, ${answer.unreproducible} not reproducible (the entities changed since), ${answer.skipped} skipped`;
  const flipped = answer.flipped ?? answer.flips.length;
  put(
    result,
    h('p', { id: 'replay-summary' }, `${flipped} would flip on version ${version}${flipped > answer.flips.length ? ` (the first ${answer.flips.length} listed)` : ''}. ${counts}.`),
    answer.truncated ? h('p', { class: 'error' }, 'Truncated: more decisions were recorded in this window than a replay examines; narrow it.') : null,
    answer.flips.length === 0
      ? h('p', { class: 'muted', id: 'replay-none' }, 'No recorded decision would change.')
      : table(
          ['Time', 'Principal', 'Action', 'Resource', 'Recorded', 'On the candidate'],
          answer.flips.map((flip) => [
            time(flip.time),
            h('span', { class: 'mono principal' }, flip.principal),
            h('span', { class: 'mono' }, flip.action),
            h('span', { class: 'mono' }, flip.resource),
            [badge(flip.recorded.decision), ` version ${flip.recorded.policyVersion}`],
            [
              badge(flip.candidate.decision),
              flip.candidate.reasons.length === 0 ? null : h('span', { class: 'mono' }, ` ${flip.candidate.reasons.join(', ')}`),
              flip.candidate.error === undefined ? null : h('span', { class: 'muted' }, ` (${flip.candidate.error})`),
            ],
          ]),
          { id: 'replay-flips' },
        ),
    h('p', {}, h('a', { href: tenantHref(tenant, 'versions') }, 'Policy versions'), ': activate it there once the flips are what you meant.'),
  );
}
