/**
 * One Istio AuthorizationPolicy as Cedar conditions over Verity's vocabulary (the request's
 * `action` is the HTTP method; `context.caller` the verified peer's SPIFFE id; `context.path`
 * the request path; `context.callee` the workload the PEP protects). Istio semantics: rules
 * are ORed; within a rule `from`, `to` and `when` are ANDed; entries of `from` (of `to`) are
 * ORed; fields of one source (operation) are ANDed; values of one list are ORed.
 *
 * What cannot be expressed fails closed, with a warning: in an ALLOW rule it never matches (the
 * rule allows less), in a DENY or AUDIT rule it always matches (the rule denies more).
 */
import { and, atom, cedarString, FALSE, group, ifThen, not, or, TRUE, type CedarExpr } from './cedar-expr.js';
import { hasLiteralStar, matchAny, matchNamespace, parseIstioMatch, whenPresent } from './istio-match.js';
import { Shape, type IstioObject } from './istio-yaml.js';

export type IstioAction = 'ALLOW' | 'DENY' | 'AUDIT';

/** Where the vocabulary lives in a Cedar request (docs/workload-identity.md, "Istio interop"). */
export const VOCABULARY = {
  caller: 'context.caller',
  path: 'context.path',
  callee: 'context.callee',
  workloadType: 'Workload',
} as const;

export interface TranslateSettings {
  trustDomain: string;
  rootNamespace: string;
}

/** A policy ready to render: its target (which callees) and one condition per rule index. */
export interface TranslatedPolicy {
  /** `istio:<namespace>/<name>`; each rule's id adds `/rule<i>`. */
  idBase: string;
  action: IstioAction;
  /** Its namespace and selector labels (none: the whole namespace, or the mesh from the root namespace). */
  scope: { namespace: string; labels: Record<string, string> };
  /** Which requests the policy applies to: the scope as a Cedar condition on `context.callee`. */
  target: CedarExpr;
  rules: Array<{ index: number; condition: CedarExpr }>;
  /** Methods its rules name (for the schema's actions). */
  methods: string[];
  /** True when a condition reads token claims (principal attributes no schema here can declare). */
  readsClaims: boolean;
}

/** What happens to an object the importer leaves out. */
export type Skipped = { skipped: string };

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
const DNS_SUBDOMAIN = /^(?=.{1,253}$)[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/;
/** Verity's policy id pattern (core `policy-content.ts`) bounds ids to 128 characters. */
const MAX_ID_LENGTH = 128;
const KNOWN = {
  spec: ['selector', 'targetRef', 'targetRefs', 'rules', 'action', 'provider'],
  rule: ['from', 'to', 'when'],
  source: ['principals', 'notPrincipals', 'namespaces', 'notNamespaces', 'requestPrincipals', 'notRequestPrincipals'],
  operation: ['methods', 'notMethods', 'paths', 'notPaths'],
} as const;
const CLAIM_KEY = /^request\.auth\.claims\[([^[\]]+)\]$/;

/** metadata.name and metadata.namespace, checked as Kubernetes names (they become policy ids). */
export function readMetadata(object: IstioObject, warn: (message: string) => void): { name: string; namespace: string; annotations: Record<string, string> } {
  const shape = new Shape(object.where);
  const metadata = shape.record(object.value['metadata'], 'metadata');
  const name = shape.optionalString(metadata['name'], 'metadata.name');
  if (name === undefined || !DNS_SUBDOMAIN.test(name)) throw shape.fail('metadata.name', 'must be a Kubernetes object name');
  let namespace = shape.optionalString(metadata['namespace'], 'metadata.namespace');
  if (namespace === undefined) {
    namespace = 'default';
    warn(`${object.where} (${name}): no metadata.namespace, read as "default" (as kubectl applies it)`);
  }
  if (!DNS_LABEL.test(namespace)) throw shape.fail('metadata.namespace', 'must be a Kubernetes namespace name');
  return { name, namespace, annotations: shape.labels(metadata['annotations'], 'metadata.annotations') ?? {} };
}

/** Translates one AuthorizationPolicy, or says why it is left out (CUSTOM, dry-run). */
export function translateAuthorizationPolicy(object: IstioObject, settings: TranslateSettings, warn: (message: string) => void): TranslatedPolicy | Skipped {
  const shape = new Shape(object.where);
  const { name, namespace, annotations } = readMetadata(object, warn);
  const idBase = `istio:${namespace}/${name}`;
  if (`${idBase}/rule0`.length > MAX_ID_LENGTH) throw shape.fail('metadata.name', `makes a policy id longer than ${MAX_ID_LENGTH} characters; shorten the name or namespace`);
  const spec = shape.record(object.value['spec'], 'spec');
  const action = spec['action'] ?? 'ALLOW';
  if (action !== 'ALLOW' && action !== 'DENY' && action !== 'AUDIT' && action !== 'CUSTOM') throw shape.fail('spec.action', 'must be ALLOW, DENY, AUDIT or CUSTOM');
  if (action === 'CUSTOM') return { skipped: `${idBase}: action CUSTOM delegates to an external authorizer: skipped` };
  if (annotations['istio.io/dry-run'] === 'true') return { skipped: `${idBase}: dry-run (istio.io/dry-run), not enforced by Istio: skipped` };

  const translator = new RuleTranslator(shape, idBase, action, settings, warn);
  const selector = shape.record(spec['selector'], 'spec.selector');
  const matchLabels = shape.labels(selector['matchLabels'], 'spec.selector.matchLabels') ?? {};
  let labels = matchLabels;
  let rulesUsable: CedarExpr = TRUE;
  for (const key of Object.keys(selector)) if (key !== 'matchLabels') rulesUsable = and(rulesUsable, translator.unsupported(`spec.selector.${key}`));
  for (const key of Object.keys(spec)) {
    if (key === 'targetRef' || key === 'targetRefs') {
      // The gateway or service it names is not something Verity's requests carry: the policy
      // is taken to cover the whole namespace (fail closed: DENY denies more, ALLOW allows nothing).
      rulesUsable = and(rulesUsable, translator.unsupported(`spec.${key}`));
      labels = {};
    } else if (!(KNOWN.spec as readonly string[]).includes(key)) {
      rulesUsable = and(rulesUsable, translator.unsupported(`spec.${key}`));
    }
  }
  const rules = shape.list(spec['rules'], 'spec.rules').map((rule, index) => ({ index, condition: and(rulesUsable, translator.rule(rule, `spec.rules[${index}]`)) }));
  const target = targetOf(namespace, labels, settings.rootNamespace);
  return { idBase, action, scope: { namespace, labels }, target, rules, methods: [...translator.methods], readsClaims: translator.readsClaims };
}

/** Which callees a policy applies to: its namespace (every namespace from the root one) and selector labels. */
function targetOf(namespace: string, labels: Record<string, string>, rootNamespace: string): CedarExpr {
  const callee = VOCABULARY.callee;
  return and(
    atom(`context has callee`),
    namespace === rootNamespace ? TRUE : atom(`${callee}.namespace == ${cedarString(namespace)}`),
    ...Object.entries(labels).map(([key, value]) => group(atom(`${callee}.labels has ${cedarString(key)}`), atom(`${callee}.labels[${cedarString(key)}] == ${cedarString(value)}`))),
  );
}

class RuleTranslator {
  readonly methods = new Set<string>();
  readsClaims = false;

  constructor(
    private readonly shape: Shape,
    private readonly idBase: string,
    private readonly action: IstioAction,
    private readonly settings: TranslateSettings,
    private readonly warn: (message: string) => void,
  ) {}

  /** A constraint Verity cannot check: never matches in ALLOW, always matches in DENY and AUDIT. */
  unsupported(path: string, why = 'is not supported'): CedarExpr {
    const effect = this.action === 'ALLOW' ? 'read as never matching (the rule allows less)' : 'read as always matching (the rule denies more)';
    this.warn(`${this.idBase}: ${path} ${why}; ${effect}`);
    return this.action === 'ALLOW' ? FALSE : TRUE;
  }

  rule(value: unknown, path: string): CedarExpr {
    const rule = this.shape.record(value, path);
    const from = this.shape.list(rule['from'], `${path}.from`);
    const to = this.shape.list(rule['to'], `${path}.to`);
    const when = this.shape.list(rule['when'], `${path}.when`);
    return and(
      ...Object.keys(rule).filter((key) => !(KNOWN.rule as readonly string[]).includes(key)).map((key) => this.unsupported(`${path}.${key}`)),
      from.length === 0 ? TRUE : or(...from.map((entry, i) => this.entry(entry, `${path}.from[${i}]`, 'source'))),
      to.length === 0 ? TRUE : or(...to.map((entry, i) => this.entry(entry, `${path}.to[${i}]`, 'operation'))),
      ...when.map((condition, i) => this.condition(condition, `${path}.when[${i}]`)),
    );
  }

  /** One `from` (`to`) entry: `{source: …}` (`{operation: …}`), its fields ANDed. */
  private entry(value: unknown, path: string, field: 'source' | 'operation'): CedarExpr {
    const entry = this.shape.record(value, path);
    const inner = this.shape.record(entry[field], `${path}.${field}`);
    const extra = Object.keys(entry).filter((key) => key !== field).map((key) => this.unsupported(`${path}.${key}`));
    const fields = Object.keys(inner).map((key) => {
      const fieldPath = `${path}.${field}.${key}`;
      if (!(KNOWN[field] as readonly string[]).includes(key)) return this.unsupported(fieldPath);
      const values = this.shape.strings(inner[key], fieldPath);
      if (values.length === 0) return TRUE;
      return field === 'source' ? this.sourceField(key, values, fieldPath) : this.operationField(key, values, fieldPath);
    });
    return and(...extra, ...fields);
  }

  private sourceField(key: string, values: string[], path: string): CedarExpr {
    const negate = key.startsWith('not');
    switch (key) {
      case 'principals':
      case 'notPrincipals':
        return this.principals(values, path, negate);
      case 'namespaces':
      case 'notNamespaces':
        return this.namespaces(values, path, negate);
      default: // requestPrincipals, notRequestPrincipals
        return this.requestPrincipal(values, path, negate);
    }
  }

  private operationField(key: string, values: string[], path: string): CedarExpr {
    const negate = key.startsWith('not');
    return key === 'methods' || key === 'notMethods' ? this.methodsTest(values, path, negate) : this.pathTest(values, path, negate);
  }

  /** `source.principal`: the peer's SPIFFE id, `spiffe://` + the Istio principal; false for a peer without one. */
  private principals(values: string[], path: string, negate: boolean): CedarExpr {
    this.literalStars(values, path);
    const { trustDomain } = this.settings;
    const aliased = values.map((value) => {
      // `cluster.local` is Istio's name for the local trust domain; policies keep it when the
      // mesh's trust domain is renamed, so it stands for the tenant's trust domain here.
      const local = value.startsWith('cluster.local/') ? trustDomain + value.slice('cluster.local'.length) : value;
      const match = parseIstioMatch(local);
      const domain = match.kind === 'exact' || match.kind === 'prefix' ? match.value.split('/')[0] : undefined;
      if (domain !== undefined && domain !== '' && !domain.includes('*') && domain !== trustDomain) {
        this.warn(`${this.idBase}: ${path} names trust domain ${domain}, not the tenant's ${trustDomain}: it matches only peers Verity trusts in that domain`);
      }
      return local;
    });
    const test = whenPresent(`context has caller`, matchAny(VOCABULARY.caller, aliased, 'spiffe://'));
    return negate ? not(test) : test;
  }

  /** `source.namespace`, read from the peer's SPIFFE id (`…/ns/<namespace>/sa/…`). */
  private namespaces(values: string[], path: string, negate: boolean): CedarExpr {
    this.literalStars(values, path);
    if (values.some((value) => parseIstioMatch(value).kind === 'suffix')) {
      this.warn(`${this.idBase}: ${path} has a suffix pattern: matched over the whole SPIFFE id, exact only for ids of the form spiffe://<td>/ns/<namespace>/sa/<account>`);
    }
    const test = whenPresent(`context has caller`, matchNamespace(VOCABULARY.caller, values, this.settings.trustDomain));
    return negate ? not(test) : test;
  }

  /**
   * `request.auth.principal` (a verified end-user JWT): only presence (`*`) can be told. In
   * Verity a request with a user's token has that user as principal; one without has the
   * calling `Workload`.
   */
  private requestPrincipal(values: string[], path: string, negate: boolean): CedarExpr {
    // "*" matches any request principal, so a list holding it is presence whatever else it holds.
    if (values.includes('*')) return negate ? atom(`principal is ${VOCABULARY.workloadType}`) : not(atom(`principal is ${VOCABULARY.workloadType}`));
    return this.unsupported(path, 'names JWT principals (iss/sub); only "*" is supported');
  }

  private methodsTest(values: string[], path: string, negate: boolean): CedarExpr {
    // Every request has a method, so `*` (presence) always matches.
    if (values.includes('*')) return negate ? FALSE : TRUE;
    if (values.some((value) => value.includes('*'))) return this.unsupported(path, 'has a method pattern');
    for (const value of values) this.methods.add(value);
    const actions = [...new Set(values)].map((method) => `Action::${cedarString(method)}`);
    const test = atom(actions.length === 1 ? `action == ${actions[0] as string}` : `action in [${actions.join(', ')}]`);
    return negate ? not(test) : test;
  }

  /**
   * `paths`/`notPaths` on `context.path`. A request without a path (not HTTP) does not match in
   * ALLOW; in DENY and AUDIT it matches, as Istio treats a missing attribute in a DENY rule.
   */
  private pathTest(values: string[], path: string, negate: boolean): CedarExpr {
    if (values.some((value) => value.includes('{*}') || value.includes('{**}'))) return this.unsupported(path, 'uses a path template ({*} or {**})');
    this.literalStars(values, path);
    const test = matchAny(VOCABULARY.path, values);
    const wanted = negate ? not(test) : test;
    const present = atom('context has path');
    return this.action === 'ALLOW' ? group(present, wanted) : ifThen(present, wanted, TRUE);
  }

  /** One `when` condition: `values` ORed, `notValues` none of them. */
  private condition(value: unknown, path: string): CedarExpr {
    const condition = this.shape.record(value, path);
    const key = this.shape.optionalString(condition['key'], `${path}.key`);
    if (key === undefined || key === '') throw this.shape.fail(`${path}.key`, 'is required');
    const values = this.shape.strings(condition['values'], `${path}.values`);
    const notValues = this.shape.strings(condition['notValues'], `${path}.notValues`);
    if (values.length === 0 && notValues.length === 0) throw this.shape.fail(path, 'needs values or notValues');
    const extra = Object.keys(condition).filter((k) => k !== 'key' && k !== 'values' && k !== 'notValues');
    if (extra.length > 0) return this.unsupported(`${path}.${extra[0] as string}`);
    const test = this.conditionTest(key, path);
    if (test === undefined) return this.unsupported(`${path} (key ${key})`);
    return and(values.length === 0 ? TRUE : test(values, false), notValues.length === 0 ? TRUE : test(notValues, true));
  }

  /** The test for a `when` key, given its values and whether they are `notValues`; undefined for keys Verity cannot check. */
  private conditionTest(key: string, path: string): ((values: string[], negate: boolean) => CedarExpr) | undefined {
    if (key === 'source.principal') return (values, negate) => this.principals(values, path, negate);
    if (key === 'source.namespace') return (values, negate) => this.namespaces(values, path, negate);
    if (key === 'request.auth.principal') return (values, negate) => this.requestPrincipal(values, path, negate);
    const claim = CLAIM_KEY.exec(key)?.[1];
    if (claim === undefined) return undefined;
    // The tenant's identity source maps the claim to a principal attribute of the same name.
    this.readsClaims = true;
    return (values, negate) => {
      const test = whenPresent(`principal has ${cedarString(claim)}`, matchAny(`principal[${cedarString(claim)}]`, values));
      return negate ? not(test) : test;
    };
  }

  private literalStars(values: string[], path: string): void {
    if (values.some((value) => hasLiteralStar(parseIstioMatch(value)))) {
      this.warn(`${this.idBase}: ${path} has a "*" that is neither first nor last: Istio (and Verity) match it as a literal character`);
    }
  }
}
