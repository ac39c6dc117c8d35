/** The Cedar schema of the Istio import vocabulary, for the methods and label keys an import uses. */
import { cedarString } from './cedar-expr.js';

/** Methods every generated schema declares: Istio rules without `methods` cover them all. */
const STANDARD_METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS', 'CONNECT', 'TRACE'];

/**
 * A schema under which the generated policies validate (strict): principal `Workload`, resource
 * `route` (as Verity's gateway and SDK send), one action per HTTP method, and the context the
 * policies read. Add the tenant's own types (users, other actions) to it before pushing.
 */
export function istioSchema(methods: Iterable<string>, labelKeys: Iterable<string>): string {
  const actions = [...new Set([...STANDARD_METHODS, ...methods])];
  const labels = [...new Set(labelKeys)].sort().map((key) => `${cedarString(key)}?: String`);
  return [
    '// Cedar schema for the vocabulary of `verity istio import` (docs/workload-identity.md, "Istio interop").',
    '// A workload known by its SPIFFE id, e.g. Workload::"spiffe://cluster.local/ns/default/sa/web".',
    'entity Workload;',
    '// A route template or canonical path, as the gateway and the enforcement SDK send it.',
    'entity route;',
    'type IstioContext = {',
    '  // The verified peer\'s SPIFFE id; absent when the peer is not authenticated.',
    '  caller?: String,',
    '  // The request path, query removed.',
    '  path?: String,',
    '  // The workload the PEP protects: its namespace and labels.',
    `  callee?: { namespace: String, labels: { ${labels.join(', ')} } },`,
    '};',
    `action ${actions.map(cedarString).join(', ')} appliesTo {`,
    '  principal: [Workload],',
    '  resource: [route],',
    '  context: IstioContext,',
    '};',
    '',
  ].join('\n');
}
