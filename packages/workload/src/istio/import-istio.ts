/** `importIstioPolicies`: Istio AuthorizationPolicy and PeerAuthentication YAML to Cedar and mTLS modes. */
import { VerityError } from '@verity/core';
import { and, atom, cedarString, not, or, renderCedar, type CedarExpr } from './cedar-expr.js';
import { translateAuthorizationPolicy, type IstioAction, type TranslatedPolicy } from './authorization-policy.js';
import { istioSchema } from './istio-schema.js';
import type { IstioImportOptions, IstioImportResult, IstioPeerAuthentication } from './istio-types.js';
import { invalid, readIstioObjects } from './istio-yaml.js';
import { readPeerAuthentication } from './peer-authentication.js';

const SECURITY_API_VERSIONS = ['security.istio.io/v1', 'security.istio.io/v1beta1'];
/** SPIFFE-ID §2.1: lowercase letters, digits, `.`, `-` and `_`. */
const TRUST_DOMAIN = /^[a-z0-9._-]{1,255}$/;
const NAMESPACE = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
const OPTION_KEYS = new Set(['trustDomain', 'rootNamespace', 'implicitAllow']);
const IMPLICIT_ALLOW_ID = 'istio:implicit-allow';

interface Settings {
  trustDomain: string;
  rootNamespace: string;
  implicitAllow: boolean;
}

function settingsOf(options: IstioImportOptions): Settings {
  if (typeof options !== 'object' || options === null) throw new TypeError('importIstioPolicies: options must be an object');
  for (const key of Object.keys(options)) if (!OPTION_KEYS.has(key)) throw new TypeError(`importIstioPolicies: unknown option ${key}`);
  if (options.implicitAllow !== undefined && typeof options.implicitAllow !== 'boolean') throw new TypeError('importIstioPolicies: implicitAllow must be a boolean');
  const trustDomain = options.trustDomain ?? 'cluster.local';
  if (typeof trustDomain !== 'string' || !TRUST_DOMAIN.test(trustDomain)) {
    throw new VerityError('ERR_TRUST_DOMAIN_INVALID', 'the trust domain must be 1 to 255 lowercase letters, digits, ".", "-" or "_"');
  }
  const rootNamespace = options.rootNamespace ?? 'istio-system';
  if (typeof rootNamespace !== 'string' || !NAMESPACE.test(rootNamespace)) throw new VerityError('ERR_ISTIO_POLICY_INVALID', 'the root namespace must be a Kubernetes namespace name');
  return { trustDomain, rootNamespace, implicitAllow: options.implicitAllow ?? false };
}

/**
 * Translates Istio security policies (YAML, one or more documents) into Cedar over Verity's
 * vocabulary: ALLOW rules become permits, DENY rules forbids (Cedar's forbid-overrides and
 * default deny give Istio's DENY-before-ALLOW and "an ALLOW policy denies what it does not
 * match"), AUDIT rules observe-only permits in `auditPolicies`; PeerAuthentication becomes
 * mTLS modes. CUSTOM and dry-run policies and other kinds are skipped with a warning. Throws
 * VerityError ERR_ISTIO_POLICY_INVALID (invalid YAML or shape, naming the field) or
 * ERR_TRUST_DOMAIN_INVALID.
 *
 * @example
 * ```ts
 * const { policies, warnings } = importIstioPolicies(readFileSync('authz.yaml', 'utf8'), { trustDomain: 'prod.acme.example' });
 * ```
 */
export function importIstioPolicies(yamlText: string, options: IstioImportOptions = {}): IstioImportResult {
  const settings = settingsOf(options);
  const warnings: string[] = [];
  const warn = (message: string) => void warnings.push(message);
  const translated: TranslatedPolicy[] = [];
  const peerAuthentication: IstioPeerAuthentication[] = [];
  const seen = new Set<string>();
  for (const object of readIstioObjects(yamlText)) {
    const { kind, apiVersion } = object.value;
    const security = typeof apiVersion === 'string' && SECURITY_API_VERSIONS.includes(apiVersion);
    if (security && kind === 'AuthorizationPolicy') {
      const policy = translateAuthorizationPolicy(object, settings, warn);
      if ('skipped' in policy) {
        warn(policy.skipped);
        continue;
      }
      if (seen.has(policy.idBase)) throw invalid(object.where, `AuthorizationPolicy ${policy.idBase.slice('istio:'.length)} appears twice`);
      seen.add(policy.idBase);
      translated.push(policy);
    } else if (security && kind === 'PeerAuthentication') {
      peerAuthentication.push(readPeerAuthentication(object, warn));
    } else {
      const what = typeof kind === 'string' ? `${typeof apiVersion === 'string' ? `${apiVersion} ` : ''}${kind}` : 'an object without kind';
      warn(`${object.where}: ${what.slice(0, 120)} is not an Istio AuthorizationPolicy or PeerAuthentication (security.istio.io/v1 or v1beta1): skipped`);
    }
  }
  if (!settings.implicitAllow) warnUncoveredDenies(translated, settings.rootNamespace, warn);
  const readsClaims = translated.some((policy) => policy.readsClaims);
  if (readsClaims) warn('the policies read token claims (request.auth.claims) as principal attributes: no schema is generated');
  const result: IstioImportResult = {
    policies: renderSet(translated.filter((p) => p.action !== 'AUDIT'), settings, 'enforce'),
    auditPolicies: translated.some((p) => p.action === 'AUDIT') ? renderSet(translated.filter((p) => p.action === 'AUDIT'), settings, 'audit') : '',
    warnings,
    peerAuthentication,
  };
  if (!readsClaims) result.schema = istioSchema(translated.flatMap((p) => p.methods), translated.flatMap((p) => Object.keys(p.scope.labels)));
  return result;
}

/**
 * Istio allows requests to a workload no ALLOW policy selects; Verity denies what no permit
 * allows. Says so for each DENY policy whose workloads no ALLOW policy surely covers.
 */
function warnUncoveredDenies(policies: readonly TranslatedPolicy[], rootNamespace: string, warn: (message: string) => void): void {
  const allows = policies.filter((p) => p.action === 'ALLOW');
  for (const deny of policies.filter((p) => p.action === 'DENY')) {
    const covered = allows.some(
      (allow) =>
        (allow.scope.namespace === rootNamespace || allow.scope.namespace === deny.scope.namespace) &&
        Object.entries(allow.scope.labels).every(([key, value]) => deny.scope.labels[key] === value),
    );
    if (!covered) {
      warn(`${deny.idBase}: no ALLOW policy selects every workload this DENY policy covers; Istio allows their other requests, Verity denies them unless a permit allows them (implicitAllow, \`--implicit-allow\`, keeps Istio's behaviour)`);
    }
  }
}

function renderSet(policies: readonly TranslatedPolicy[], settings: Settings, purpose: 'enforce' | 'audit'): string {
  const header =
    purpose === 'enforce'
      ? ['// Cedar policies generated by `verity istio import` from Istio AuthorizationPolicy objects', `// (trust domain ${settings.trustDomain}); vocabulary: docs/workload-identity.md, "Istio interop".`]
      : ['// Observe-only: Istio AUDIT policies, generated by `verity istio import`. A permit here means', '// "Istio would mark this request for audit"; keep these out of the enforcing policy set.'];
  const blocks: string[] = [header.join('\n')];
  for (const policy of policies) {
    if (policy.rules.length === 0) {
      blocks.push(`// ${policy.idBase}: ${policy.action} with no rules matches nothing${policy.action === 'ALLOW' ? ' (the workloads it selects are denied unless another permit allows)' : ''}.`);
    }
    for (const rule of policy.rules) {
      const id = `${policy.idBase}/rule${rule.index}`;
      const condition = and(policy.target, rule.condition);
      if (condition.kind === 'const' && !condition.value) blocks.push(`// ${id}: matches no request (see the warnings); left out.`);
      else blocks.push(renderPolicy(id, policy.action, condition));
    }
  }
  if (purpose === 'enforce' && settings.implicitAllow) {
    const selected = or(...policies.filter((p) => p.action === 'ALLOW').map((p) => p.target));
    const comment = '// Istio allows requests to a workload that no ALLOW policy selects (unless a DENY policy matches).';
    blocks.push(`${comment}\n${renderPolicy(IMPLICIT_ALLOW_ID, 'ALLOW', and(atom('context has callee'), not(selected)))}`);
  }
  return `${blocks.join('\n\n')}\n`;
}

function renderPolicy(id: string, action: IstioAction, condition: CedarExpr): string {
  const effect = action === 'DENY' ? 'forbid' : 'permit';
  return [`@id(${cedarString(id)})`, `@istio_action(${cedarString(action)})`, `${effect} (principal, action, resource)`, 'when {', `  ${renderCedar(condition)}`, '};'].join('\n');
}
