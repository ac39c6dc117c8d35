/**
 * DOM helpers of the console. Data from the API only ever goes in as text nodes or attribute
 * values, never as HTML: a policy id or principal holding markup is shown as that markup's text.
 */

/** Properties set as such (not attributes); every other key is an attribute, `on…` a listener. */
const PROPERTIES = new Set(['value', 'checked', 'disabled', 'hidden', 'selected', 'required']);

/**
 * An element: `h('a', {href: '#/x', class: 'y', onclick: f}, 'text', child, [more])`. Children
 * are nodes, or strings and numbers (as text); null, undefined and false are left out.
 */
export function h(tag, props = {}, ...children) {
  const element = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith('on') && typeof value === 'function') element.addEventListener(key.slice(2), value);
    else if (PROPERTIES.has(key)) element[key] = value;
    else element.setAttribute(key === 'className' ? 'class' : key, value === true ? '' : String(value));
  }
  return add(element, children);
}

/** Nodes of children as h() takes them: nested arrays flattened, null, undefined and false left out, the rest as text. */
function nodes(children) {
  return children.flat(Infinity).flatMap((child) => (child === null || child === undefined || child === false ? [] : [child instanceof Node ? child : String(child)]));
}

/** Append children (as h() takes them) to `element`; returns it. */
export function add(element, ...children) {
  element.append(...nodes(children));
  return element;
}

/** Replace `element`'s children with these (as h() takes them); returns it. */
export function put(element, ...children) {
  element.replaceChildren(...nodes(children));
  return element;
}

/** An API error as the console shows it: its code, then its message (and Cedar's diagnostics). */
export function errorBox(error) {
  const code = typeof error?.code === 'string' ? error.code : 'ERROR';
  const message = typeof error?.message === 'string' ? error.message : String(error);
  const diagnostics = Array.isArray(error?.diagnostics) ? error.diagnostics : [];
  return h(
    'div',
    { class: 'error', role: 'alert' },
    h('span', { class: 'code' }, code),
    h('span', { class: 'message' }, message),
    diagnostics.length === 0 ? null : h('ul', {}, diagnostics.map((d) => h('li', {}, [d.policyId, d.message].filter(Boolean).join(': ')))),
  );
}

/** A table: `columns` are header texts, `rows` arrays of cells (nodes or text). */
export function table(columns, rows, attributes = {}) {
  return h(
    'table',
    attributes,
    h('thead', {}, h('tr', {}, columns.map((column) => h('th', {}, column)))),
    h('tbody', {}, rows.map((cells) => h('tr', {}, cells.map((cell) => (cell instanceof Node && cell.tagName === 'TD' ? cell : h('td', {}, cell)))))),
  );
}

/** A badge: allow / deny / ok / broken / active / observed, styled by its class. */
export function badge(text, kind = text) {
  return h('span', { class: `badge ${kind}` }, text);
}

/** `Type::"id"` of an entity uid object `{type, id}` (the audit's form), as text. */
export function uidText(uid) {
  if (uid === null || typeof uid !== 'object') return String(uid ?? '');
  return `${uid.type}::${JSON.stringify(String(uid.id))}`;
}

/** A local date-time of an ISO-8601 text, with the text itself in the title. */
export function time(text) {
  const at = new Date(text);
  return h('time', { datetime: text, title: text }, Number.isNaN(at.getTime()) ? String(text) : at.toLocaleString());
}

/** A labelled form control. */
export function field(label, control) {
  return h('label', {}, label, control);
}

/** The console's address of a tenant's page: `#/t/{tenant}/{page}`. */
export function tenantHref(tenant, page = 'versions') {
  return `#/t/${encodeURIComponent(tenant)}/${page}`;
}

/** Run an event handler's work, showing its error (an API refusal) in `target` instead of losing it. */
export async function showing(target, work) {
  try {
    await work();
  } catch (error) {
    put(target, errorBox(error));
  }
}
