/**
 * Istio's string matching in Cedar. Every string field of a rule matches exact (`abc`), prefix
 * (`abc*`), suffix (`*abc`) or presence (`*`, any non-empty value); values of one list are ORed
 * (authorization_policy.proto, `Rule`). Read in Istio's own order: `*`, then a leading `*`,
 * then a trailing `*`; any other `*` is a literal character.
 */
import { atom, cedarString, group, likePattern, or, type CedarExpr } from './cedar-expr.js';

export type IstioMatch =
  | { kind: 'presence' }
  | { kind: 'exact'; value: string }
  | { kind: 'prefix'; value: string }
  | { kind: 'suffix'; value: string };

/** How Istio reads one value (pilot's `StringMatcherWithPrefix`). */
export function parseIstioMatch(value: string): IstioMatch {
  if (value === '*') return { kind: 'presence' };
  if (value.startsWith('*')) return { kind: 'suffix', value: value.slice(1) };
  if (value.endsWith('*')) return { kind: 'prefix', value: value.slice(0, -1) };
  return { kind: 'exact', value };
}

/** True when the value has a `*` Istio reads as a literal character (very likely a mistake). */
export function hasLiteralStar(match: IstioMatch): boolean {
  return match.kind !== 'presence' && match.value.includes('*');
}

/**
 * Cedar test that the String expression `subject` matches any of `values`, each with the
 * literal `prefix` in front (principals are matched as `spiffe://` + value, as Envoy does).
 * Exact values become one `[…].contains(subject)`; the rest `like` patterns.
 */
export function matchAny(subject: string, values: readonly string[], prefix = ''): CedarExpr {
  const exact: string[] = [];
  const tests: CedarExpr[] = [];
  for (const value of values) {
    const match = parseIstioMatch(value);
    switch (match.kind) {
      case 'presence':
        tests.push(atom(`${subject} != ""`));
        break;
      case 'exact':
        exact.push(prefix + match.value);
        break;
      case 'prefix':
        tests.push(atom(`${subject} like ${likePattern([{ literal: prefix + match.value }, 'wildcard'])}`));
        break;
      case 'suffix':
        tests.push(atom(`${subject} like ${likePattern(prefix ? [{ literal: prefix }, 'wildcard', { literal: match.value }] : ['wildcard', { literal: match.value }])}`));
        break;
    }
  }
  const unique = [...new Set(exact)];
  const exactTest = unique.length === 0 ? [] : unique.length === 1 ? [atom(`${subject} == ${cedarString(unique[0] as string)}`)] : [atom(`[${unique.map(cedarString).join(', ')}].contains(${subject})`)];
  return or(...exactTest, ...tests);
}

/**
 * Cedar test that the SPIFFE id `subject` is of a workload in a namespace matching any of
 * `values`: Istio derives `source.namespace` from the peer's identity, which for Istio
 * workloads is `spiffe://<trust domain>/ns/<namespace>/sa/<service account>`.
 */
export function matchNamespace(subject: string, values: readonly string[], trustDomain: string): CedarExpr {
  const base = `spiffe://${trustDomain}/ns/`;
  return or(
    ...values.map((value) => {
      const match = parseIstioMatch(value);
      const namespace =
        match.kind === 'presence' ? ['wildcard' as const]
        : match.kind === 'exact' ? [{ literal: match.value }]
        : match.kind === 'prefix' ? [{ literal: match.value }, 'wildcard' as const]
        : ['wildcard' as const, { literal: match.value }];
      return atom(`${subject} like ${likePattern([{ literal: base }, ...namespace, { literal: '/sa/' }, 'wildcard'])}`);
    }),
  );
}

/** `has` and then the test: false when the attribute is missing. */
export function whenPresent(guard: string, test: CedarExpr): CedarExpr {
  return group(atom(guard), test);
}
