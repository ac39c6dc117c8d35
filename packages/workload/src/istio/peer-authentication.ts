/** Istio PeerAuthentication as Verity mTLS modes (docs/workload-identity.md, "Istio interop"). */
import type { IstioMtlsMode, IstioPeerAuthentication } from './istio-types.js';
import { Shape, type IstioObject } from './istio-yaml.js';
import { readMetadata } from './authorization-policy.js';

const MODES: Readonly<Record<string, IstioMtlsMode>> = { STRICT: 'strict', PERMISSIVE: 'permissive', DISABLE: 'disable', UNSET: 'inherit' };
const PORT = /^[1-9][0-9]{0,4}$/;

function modeOf(shape: Shape, value: unknown, path: string): IstioMtlsMode {
  const mtls = shape.record(value, path);
  const mode = shape.optionalString(mtls['mode'], `${path}.mode`);
  if (mode === undefined) return 'inherit';
  const known = MODES[mode];
  if (known === undefined) throw shape.fail(`${path}.mode`, 'must be STRICT, PERMISSIVE, DISABLE or UNSET');
  return known;
}

/** Reads one PeerAuthentication; its mode applies to the workloads its selector (or namespace) covers. */
export function readPeerAuthentication(object: IstioObject, warn: (message: string) => void): IstioPeerAuthentication {
  const shape = new Shape(object.where);
  const { name, namespace } = readMetadata(object, warn);
  const spec = shape.record(object.value['spec'], 'spec');
  const result: IstioPeerAuthentication = { name, namespace, mode: modeOf(shape, spec['mtls'], 'spec.mtls') };
  const selector = shape.labels(shape.record(spec['selector'], 'spec.selector')['matchLabels'], 'spec.selector.matchLabels');
  if (selector !== undefined) result.selector = selector;
  const ports = shape.record(spec['portLevelMtls'], 'spec.portLevelMtls');
  if (Object.keys(ports).length > 0) {
    result.portLevelMtls = {};
    for (const [port, mtls] of Object.entries(ports)) {
      if (!PORT.test(port) || Number(port) > 65535) throw shape.fail(`spec.portLevelMtls`, 'keys must be port numbers');
      result.portLevelMtls[port] = modeOf(shape, mtls, `spec.portLevelMtls.${port}`);
    }
  }
  return result;
}
